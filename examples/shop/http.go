package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

// Handler returns the HTTP JSON API.
//
//	POST /users                       {"email","name"}             201, ETag
//	GET  /users                       the user list (read model)
//	GET  /users/{id}                  one user (aggregate), ETag
//	POST /users/{id}/verify-email     {"email"}, If-Match           200, ETag
//	PUT  /users/{id}/preferences      {"language","theme","newsletter"}, If-Match 200, ETag
//	POST /users/{id}/deactivate       {"reason"}, If-Match          200, ETag
//	GET  /users/{id}/orders           the user's orders (read model)
//	POST /orders                      {"userId","lines","totalCents","currency"} 201, ETag
//	GET  /orders/{id}                 one order (aggregate), ETag
//	POST /orders/{id}/cancel          {"reason"}, If-Match          200, ETag
//	GET  /orders/{id}/fulfilment      the saga's state and timeline
//	GET  /revenue                     revenue per day (read model)
//	GET  /breakers/{name}             a breaker's state and history
//
// ETags are the aggregate's revision; If-Match with a stale one is 412.
// Errors are RFC 9457 problem documents.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	var paths []string
	allowed := map[string][]string{} // path → methods
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.traced(pattern, h))
		method, path, _ := strings.Cut(pattern, " ")
		if allowed[path] == nil {
			paths = append(paths, path)
		}
		allowed[path] = append(allowed[path], method)
	}
	handle("POST /users", s.postUser)
	handle("GET /users", func(w http.ResponseWriter, r *http.Request) error {
		rows, err := s.read.Users(r.Context())
		return reply(w, http.StatusOK, rows, err)
	})
	handle("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) error {
		u, err := s.domain.Users.Load(r.Context(), r.PathValue("id"))
		return replyAggregate(w, http.StatusOK, u, err)
	})
	handle("POST /users/{id}/verify-email", func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Email string `json:"email"`
		}
		return s.userCommand(w, r, &body, "VerifyEmail", func() aggregate.Decision[onboarding.User] {
			return onboarding.VerifyEmail{Email: body.Email}.Decide
		})
	})
	handle("PUT /users/{id}/preferences", func(w http.ResponseWriter, r *http.Request) error {
		var body onboarding.Preferences
		return s.userCommand(w, r, &body, "SetPreferences", func() aggregate.Decision[onboarding.User] {
			return onboarding.SetPreferences{Preferences: body}.Decide
		})
	})
	handle("POST /users/{id}/deactivate", func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Reason string `json:"reason"`
		}
		return s.userCommand(w, r, &body, "DeactivateUser", func() aggregate.Decision[onboarding.User] {
			return onboarding.DeactivateUser{Reason: body.Reason}.Decide
		})
	})
	handle("GET /users/{id}/orders", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if _, err := s.domain.Users.Load(r.Context(), id); err != nil {
			return err
		}
		rows, err := s.read.OrdersOf(r.Context(), id)
		return reply(w, http.StatusOK, rows, err)
	})
	handle("POST /orders", s.postOrder)
	handle("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) error {
		o, err := s.domain.Orders.Load(r.Context(), r.PathValue("id"))
		return replyAggregate(w, http.StatusOK, o, err)
	})
	handle("POST /orders/{id}/cancel", func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Reason string `json:"reason"`
		}
		expected, err := ifMatch(r)
		if err != nil {
			return err
		}
		if err := decodeBody(r, &body); err != nil {
			return err
		}
		res, err := s.UpdateOrder(r.Context(), r.PathValue("id"), "CancelOrder",
			onboarding.CancelOrder{Reason: body.Reason}.Decide, expected)
		return replyAggregate(w, http.StatusOK, res.Root, err)
	})
	handle("GET /orders/{id}/fulfilment", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.Fulfilment(r.Context(), r.PathValue("id"))
		return reply(w, http.StatusOK, v, err)
	})
	handle("GET /revenue", func(w http.ResponseWriter, r *http.Request) error {
		rows, err := s.read.Revenue(r.Context())
		return reply(w, http.StatusOK, rows, err)
	})
	handle("GET /breakers/{name}", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.Breaker(r.Context(), r.PathValue("name"))
		return reply(w, http.StatusOK, v, err)
	})
	// Another method on a known path is 405 with Allow, anything else 404,
	// both as problem documents (the mux's own answers are plain text).
	for _, path := range paths {
		allow := strings.Join(allowed[path], ", ")
		mux.Handle(path, s.traced(path, func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return &problem{Status: http.StatusMethodNotAllowed, Title: "Method Not Allowed",
				Detail: fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow)}
		}))
	}
	mux.Handle("/", s.traced("/", func(http.ResponseWriter, *http.Request) error {
		return &problem{Status: http.StatusNotFound, Title: "Not Found", Detail: "no such resource"}
	}))
	return mux
}

func (s *Service) postUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	res, err := s.RegisterUser(r.Context(), body.Email, body.Name)
	if err == nil {
		w.Header().Set("Location", "/users/"+res.ID)
	}
	return replyAggregate(w, http.StatusCreated, res.Root, err)
}

func (s *Service) postOrder(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		UserID     string            `json:"userId"`
		Lines      []onboarding.Line `json:"lines"`
		TotalCents int64             `json:"totalCents"`
		Currency   string            `json:"currency"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	res, err := s.PlaceOrder(r.Context(), onboarding.PlaceOrder{
		UserID: body.UserID, Lines: body.Lines, TotalCents: body.TotalCents, Currency: body.Currency,
	})
	if err == nil {
		w.Header().Set("Location", "/orders/"+res.ID)
	}
	return replyAggregate(w, http.StatusCreated, res.Root, err)
}

// userCommand decodes body, then runs the decision decide returns on the
// user of the path at the If-Match revision.
func (s *Service) userCommand(w http.ResponseWriter, r *http.Request, body any, name string, decide func() aggregate.Decision[onboarding.User]) error {
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	if err := decodeBody(r, body); err != nil {
		return err
	}
	res, err := s.UpdateUser(r.Context(), r.PathValue("id"), name, decide(), expected)
	return replyAggregate(w, http.StatusOK, res.Root, err)
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decodeBody reads one JSON object into v: unknown fields and trailing data
// are malformed (400), a body over maxBody is too large (413).
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &problem{Status: http.StatusRequestEntityTooLarge, Title: "Content Too Large",
			Detail: fmt.Sprintf("the body is over %d bytes", tooLarge.Limit)}
	case err != nil:
		return &problem{Status: http.StatusBadRequest, Title: "Malformed JSON", Detail: err.Error()}
	}
	return nil
}

// ifMatch reads the If-Match header: absent means any revision, "*" an
// existing aggregate, "<n>" (an ETag this API returned) revision n.
func ifMatch(r *http.Request) (eventstore.ExpectedRevision, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	switch h {
	case "":
		return eventstore.Any, nil
	case "*":
		return eventstore.StreamExists, nil
	}
	n, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || !strings.HasPrefix(h, `"`) || !strings.HasSuffix(h, `"`) {
		return eventstore.Any, &problem{Status: http.StatusBadRequest, Title: "Bad If-Match",
			Detail: fmt.Sprintf("If-Match %q is not an ETag of this API (a quoted revision such as \"3\")", h)}
	}
	return eventstore.Exact(n), nil
}

// etag is the ETag of an aggregate at revision rev.
func etag(rev eventstore.ExpectedRevision) string {
	if n, ok := rev.Revision(); ok {
		return strconv.Quote(strconv.FormatUint(n, 10))
	}
	return ""
}

// aggregateView is an aggregate as the API returns it.
type aggregateView[S any] struct {
	ID       string `json:"id"`
	Revision uint64 `json:"revision"`
	State    S      `json:"state"`
}

func replyAggregate[S any](w http.ResponseWriter, status int, a aggregate.Root[S], err error) error {
	if err != nil {
		return err
	}
	rev, _ := a.Revision.Revision()
	w.Header().Set("ETag", etag(a.Revision))
	return reply(w, status, aggregateView[S]{ID: a.ID, Revision: rev, State: a.State}, nil)
}

func reply(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Status     int         `json:"status"`
	Detail     string      `json:"detail,omitempty"`
	Instance   string      `json:"instance,omitempty"`
	Violations []violation `json:"violations,omitempty"`
}

// violation is a schema.Violation in a problem document.
type violation struct {
	Pointer string `json:"pointer"`
	Keyword string `json:"keyword"`
	Message string `json:"message"`
}

func (p *problem) Error() string { return p.Title + ": " + p.Detail }

// problemOf maps an error to its problem: the errors callers can cause
// have their own status; anything else is a 500 whose detail is not shown.
func problemOf(err error) *problem {
	var p *problem
	var verr *schema.ValidationError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &verr):
		p := &problem{Status: http.StatusUnprocessableEntity, Title: "Invalid event", Detail: verr.Error()}
		for _, v := range verr.Violations {
			p.Violations = append(p.Violations, violation(v))
		}
		return p
	case errors.Is(err, aggregate.ErrConflict): // before ErrWrongExpectedVersion, which it wraps
		return &problem{Status: http.StatusServiceUnavailable, Title: "Busy", Detail: "too many concurrent writers; try again"}
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return &problem{Status: http.StatusPreconditionFailed, Title: "Stale If-Match",
			Detail: "the resource changed since it was read: " + err.Error()}
	case errors.Is(err, aggregate.ErrNotFound), errors.Is(err, saga.ErrUnknownSaga),
		errors.Is(err, aggregate.ErrInvalidID), errors.Is(err, eventstore.ErrInvalidArgument):
		return &problem{Status: http.StatusNotFound, Title: "Not Found", Detail: err.Error()}
	case errors.Is(err, onboarding.ErrNotRegistered):
		// The user named in a request body: the request is well-formed but
		// refers to nothing.
		return &problem{Status: http.StatusUnprocessableEntity, Title: "Unknown user", Detail: err.Error()}
	case errors.Is(err, aggregate.ErrRejected), errors.Is(err, aggregate.ErrAlreadyExists),
		errors.Is(err, onboarding.ErrEmailNotVerified), errors.Is(err, onboarding.ErrDeactivated):
		return &problem{Status: http.StatusConflict, Title: "Command rejected", Detail: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &problem{Status: http.StatusServiceUnavailable, Title: "Unavailable", Detail: err.Error()}
	}
	return &problem{Status: http.StatusInternalServerError, Title: "Internal Server Error"}
}

// traced serves h in a server span that continues the caller's trace (a
// traceparent header), and turns the error h returns into a problem.
func (s *Service) traced(pattern string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	prop := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, pattern, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
			attribute.String("http.route", pattern)))
		defer span.End()
		prop.Inject(ctx, propagation.HeaderCarrier(w.Header())) // the trace the request is served in
		err := h(w, r.WithContext(ctx))
		if err == nil {
			return
		}
		p := problemOf(err)
		span.SetAttributes(attribute.Int("http.response.status_code", p.Status))
		if p.Status >= 500 {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			s.log.ErrorContext(ctx, "request failed", slog.String("route", pattern), slog.Any("error", err))
		}
		p.Instance = r.URL.Path
		if p.Type == "" {
			p.Type = "about:blank"
		}
		if p.Title == "" {
			p.Title = http.StatusText(p.Status)
		}
		body, _ := json.Marshal(p)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		w.Write(append(body, '\n'))
	})
}
