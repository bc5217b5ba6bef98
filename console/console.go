package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ErrInvalidOption: New was given an option it cannot use.
var ErrInvalidOption = errors.New("console: invalid option")

// An Option configures the console.
type Option func(*options) error

type options struct {
	registry  *schema.Registry
	travel    map[string]ReplayFunc
	targets   []namedTarget
	actions   bool
	logger    *slog.Logger
	pageSize  int
	scanLimit int
	reload    time.Duration
}

type namedTarget struct {
	name   string
	target projection.StatusReporter
}

// WithRegistry decodes events with the service's registry: its Go types and
// upcasters turn stored events into the current version, as the service
// reads them. Without it the console validates against the published
// schemas only.
func WithRegistry(r *schema.Registry) Option {
	return func(o *options) error {
		if r == nil {
			return fmt.Errorf("%w: nil registry", ErrInvalidOption)
		}
		o.registry = r
		return nil
	}
}

// WithActions enables the actions: replaying a projection's parked events
// (projection.RequestReplay), and retrying or skipping the failed
// compensation of a saga that needs attention (saga.RequestRetry,
// saga.RequestSkip). Each records a request as an event; the service's
// runners and engines carry it out.
// Without it the console only reads.
func WithActions() Option {
	return func(o *options) error { o.actions = true; return nil }
}

// WithLogger logs failed requests to l (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// WithPageSize sets how many rows a page shows when the request does not say
// (default 50, at most MaxPageSize).
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > MaxPageSize {
			return fmt.Errorf("%w: page size %d not in 1..%d", ErrInvalidOption, n, MaxPageSize)
		}
		o.pageSize = n
		return nil
	}
}

// WithScanLimit bounds how many events of $all one listing request examines
// (default 10 000): a page with fewer rows than asked for and a link to
// continue is shown when it is reached.
func WithScanLimit(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: scan limit %d", ErrInvalidOption, n)
		}
		o.scanLimit = n
		return nil
	}
}

// MaxPageSize bounds the rows of one page, whatever the request asks.
const MaxPageSize = 500

// handler is the console.
type handler struct {
	store     eventstore.Store
	opts      options
	mux       *http.ServeMux
	pages     map[string]*template.Template
	secret    []byte
	published *published
}

// New returns the console over store.
func New(store eventstore.Store, opts ...Option) (http.Handler, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	h := &handler{store: store, opts: options{
		travel:    map[string]ReplayFunc{},
		logger:    slog.New(slog.DiscardHandler),
		pageSize:  50,
		scanLimit: 10_000,
		reload:    5 * time.Second,
	}}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&h.opts); err != nil {
			return nil, err
		}
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	h.secret = make([]byte, 32)
	_, _ = rand.Read(h.secret) // crypto/rand.Read never fails
	h.published = &published{store: store, every: h.opts.reload}
	h.routes()
	return h, nil
}

// ServeHTTP serves the console's pages.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", h.page(h.overview))
	m.HandleFunc("GET /streams", h.page(h.streams))
	m.HandleFunc("GET /categories", h.page(h.categories))
	m.HandleFunc("GET /stream", h.page(h.stream))
	m.HandleFunc("GET /live", h.page(h.live))
	m.HandleFunc("GET /live/events", h.liveEvents)
	m.HandleFunc("GET /aggregate", h.page(h.aggregate))
	m.HandleFunc("GET /sagas", h.page(h.sagas))
	m.HandleFunc("GET /saga", h.page(h.saga))
	m.HandleFunc("GET /projections", h.page(h.projections))
	m.HandleFunc("GET /projection", h.page(h.projection))
	m.HandleFunc("GET /breakers", h.page(h.breakers))
	m.HandleFunc("GET /breaker", h.page(h.breaker))
	cop := http.NewCrossOriginProtection()
	m.Handle("POST /actions/replay-parked", cop.Handler(h.action(h.replayParked)))
	m.Handle("POST /actions/saga-retry", cop.Handler(h.action(h.sagaRetry)))
	m.Handle("POST /actions/saga-skip", cop.Handler(h.action(h.sagaSkip)))
	m.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, errorf(http.StatusNotFound, "no page %s", r.URL.Path))
	})
	h.mux = m
}

// A view is what a page handler returns: the template and its data.
type view struct {
	name  string // template name, without .html
	title string
	data  any
}

// httpError is an error with the status to answer.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// page adapts a page handler: it renders the view, or the error page with
// the error's status.
func (h *handler) page(fn func(r *http.Request) (view, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, r, http.StatusOK, v)
	}
}

// layout is what every page's template gets.
type layout struct {
	Title   string
	Nav     string
	Actions bool
	Data    any
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	t := h.pages[v.name]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", layout{Title: v.title, Nav: v.name, Actions: h.opts.actions, Data: v.data}); err != nil {
		h.opts.logger.LogAttrs(r.Context(), slog.LevelError, "console: render", slog.String("page", v.name), slog.Any("error", err))
	}
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var he *httpError
	switch {
	case errors.As(err, &he):
		status = he.status
	case errors.Is(err, eventstore.ErrStreamNotFound), errors.Is(err, eventstore.ErrStreamDeleted):
		status = http.StatusNotFound
	case errors.Is(err, eventstore.ErrInvalidArgument):
		status = http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return
	}
	if status >= 500 {
		h.opts.logger.LogAttrs(r.Context(), slog.LevelError, "console: request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	h.render(w, r, status, view{name: "error", title: http.StatusText(status), data: struct {
		Status int
		Text   string
		Error  string
	}{status, http.StatusText(status), err.Error()}})
}

// token returns the form token of an action: an HMAC of the action's name
// under the handler's random key, so only pages this handler served carry it.
func (h *handler) token(action string) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(action))
	return hex.EncodeToString(m.Sum(nil))
}

// action guards a POST action: actions must be enabled and the form must
// carry the action's token. Cross-origin requests are refused before this
// runs (http.CrossOriginProtection).
func (h *handler) action(fn func(r *http.Request) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.opts.actions {
			h.fail(w, r, errorf(http.StatusForbidden, "actions are disabled: the console is read-only (start it with --actions, or console.WithActions)"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, errorf(http.StatusBadRequest, "bad form: %v", err))
			return
		}
		if !hmac.Equal([]byte(r.PostForm.Get("token")), []byte(h.token(r.URL.Path))) {
			h.fail(w, r, errorf(http.StatusForbidden, "missing or wrong form token: reload the page and try again"))
			return
		}
		next, err := fn(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		// A relative Location, resolved by the browser against the action's
		// URL, keeps the prefix the console is mounted under (http.Redirect
		// would resolve it against the stripped path).
		w.Header().Set("Location", next)
		w.WriteHeader(http.StatusSeeOther)
	}
}

// paging reads ?limit= (1..MaxPageSize, default the page size).
func (h *handler) limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return h.opts.pageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, errorf(http.StatusBadRequest, "limit %q: want a number from 1 to %d", s, MaxPageSize)
	}
	return n, nil
}

// uintParam reads an optional unsigned query parameter.
func uintParam(r *http.Request, name string) (uint64, bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > eventstore.MaxRevision {
		return 0, false, errorf(http.StatusBadRequest, "%s %q: want a non-negative number", name, s)
	}
	return n, true, nil
}

// published keeps a registry of the schemas published to the store,
// reloaded at most every few seconds, for validation.
type published struct {
	store eventstore.Store
	every time.Duration

	mu     sync.Mutex
	reg    *schema.Registry
	loaded time.Time
	err    error
}

func (p *published) registry(ctx context.Context) (*schema.Registry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg == nil {
		p.reg = schema.MustNewRegistry()
	}
	if time.Since(p.loaded) >= p.every {
		p.err = p.reg.Load(ctx, p.store)
		p.loaded = time.Now()
	}
	return p.reg, p.err
}
