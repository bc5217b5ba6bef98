package console_test

import (
	"bufio"
	"context"
	"errors"
	"html"
	"iter"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/console"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/saga"
)

func contains(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}

func lacks(t *testing.T, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("page holds %q", b)
		}
	}
}

func TestPages(t *testing.T) {
	f := seed(t, 3)
	srv := f.server(t, console.WithRegistry(f.reg), console.WithAggregate(f.repo))
	sagaStream := saga.StreamOf("fulfilment", "2")
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"The newest event is", "Time travel for the categories", `href="streams?category=order"`}},
		{"/streams", []string{`href="stream?name=order-3"`, `href="stream?name=order-bad"`, `href="stream?name=blob-1"`, "End of $all."}},
		{"/streams?category=order", []string{"order-1", "order-2", "order-bad", "Streams of category"}},
		{"/streams?framework=1", []string{"chronicle-schemas", "chronicle-breaker-payments", sagaStream}},
		{"/categories", []string{`href="streams?category=order"`, `<td>4</td>`, `href="streams?category=blob"`}},
		{"/categories?framework=1", []string{`href="streams?category=chronicle"`}},
		{"/stream?name=order-1", []string{"OrderPlaced", "OrderShipped", "valid v1", "data as the service reads it (v1)", "time travel", "metadata"}},
		{"/stream?name=order-bad", []string{"invalid v1", "/amount"}},
		{"/stream?name=blob-1", []string{"binary", "ff 00 3c"}},
		{"/stream?name=order-2&from=0&limit=1", []string{"#0", "OrderPlaced"}},
		{"/live", []string{`data-source="live/events?stream=%24all"`, "static/console.js"}},
		{"/live?framework=1", []string{`data-source="live/events?stream=%24all&amp;framework=1"`, "checked"}},
		{"/live?stream=order-1", []string{`data-source="live/events?stream=order-1"`}},
		{"/aggregate?stream=order-1", []string{"after OrderPlaced", "after OrderShipped", "&#34;shipped&#34;: true"}},
		{"/sagas", []string{"fulfilment", "needs-attention", "completed"}},
		{"/sagas?status=needs-attention", []string{"needs-attention", `href="saga?stream=` + url.QueryEscape(sagaStream) + `"`}},
		{"/saga?stream=" + url.QueryEscape(sagaStream), []string{"SagaNeedsAttention", "card declined", "compensation-failed", "start the console with --actions to retry"}},
		{"/projections", []string{`href="projection?name=orders"`, "all:C:", "Parked events"}},
		{"/projection?name=orders", []string{"order-1@1", "failed", "read model &lt;full&gt;", "Read-only: start the console with --actions"}},
		{"/breakers", []string{`href="breaker?name=payments"`, "closed", "east"}},
		{"/breaker?name=payments", []string{"open", "closed", "2 in a row", "2 consecutive failures"}},
		{"/static/console.js", []string{"EventSource", "textContent"}},
		{"/static/console.css", []string{"font"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			contains(t, mustGet(t, srv, tc.path), tc.want...)
		})
	}
	t.Run("/sagas?status=completed leaves the others out", func(t *testing.T) {
		body := mustGet(t, srv, "/sagas?status=completed")
		contains(t, body, "completed")
		lacks(t, body, `status-needs-attention">`)
	})
	t.Run("/streams hides framework streams", func(t *testing.T) {
		lacks(t, mustGet(t, srv, "/streams"), "chronicle-schemas", "chronicle-saga")
	})
}

func TestBadInput(t *testing.T) {
	f := seed(t, 2)
	srv := f.server(t, console.WithAggregate(f.repo))
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/stream?name=order-404", http.StatusNotFound},
		{"/stream?name=order-1&from=99", http.StatusNotFound},
		{"/stream", http.StatusBadRequest},
		{"/stream?name=%24all", http.StatusBadRequest},
		{"/stream?name=a%00b", http.StatusBadRequest},
		{"/stream?name=order-1&from=-1", http.StatusBadRequest},
		{"/stream?name=order-1&from=x", http.StatusBadRequest},
		{"/stream?name=order-1&limit=0", http.StatusBadRequest},
		{"/stream?name=order-1&limit=501", http.StatusBadRequest},
		{"/stream?name=order-1&limit=ten", http.StatusBadRequest},
		{"/streams?before=12", http.StatusBadRequest},
		{"/streams?before=C:1/P:x", http.StatusBadRequest},
		{"/streams?before=C:0/P:0", http.StatusBadRequest},
		{"/streams?limit=-3", http.StatusBadRequest},
		{"/sagas?status=bored", http.StatusBadRequest},
		{"/sagas?before=nowhere", http.StatusBadRequest},
		{"/sagas?limit=x", http.StatusBadRequest},
		{"/saga?stream=order-1", http.StatusBadRequest},
		{"/saga?stream=" + url.QueryEscape(saga.StreamOf("fulfilment", "nope")), http.StatusNotFound},
		{"/aggregate", http.StatusBadRequest},
		{"/aggregate?stream=blob-1", http.StatusNotFound},
		{"/aggregate?stream=order-nope", http.StatusNotFound},
		{"/aggregate?stream=order-1&from=z", http.StatusBadRequest},
		{"/aggregate?stream=order-1&limit=0", http.StatusBadRequest},
		{"/projection", http.StatusBadRequest},
		{"/projection?name=a-b", http.StatusBadRequest},
		{"/projection?name=nothing", http.StatusNotFound},
		{"/breaker", http.StatusBadRequest},
		{"/breaker?name=nope", http.StatusNotFound},
		{"/breaker?name=payments&limit=1000", http.StatusBadRequest},
		{"/live?stream=a%01b", http.StatusBadRequest},
		{"/live/events?stream=a%01b", http.StatusBadRequest},
		{"/nope", http.StatusNotFound},
		{"/static/nope.js", http.StatusNotFound},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, srv, tc.path)
			if code != tc.code {
				t.Fatalf("status %d, want %d\n%s", code, tc.code, body)
			}
			if !strings.HasPrefix(tc.path, "/static/") && !strings.Contains(body, `id="error"`) {
				t.Errorf("no error message on the page:\n%s", body)
			}
		})
	}
	t.Run("POST to a page", func(t *testing.T) {
		res, err := srv.Client().Post(srv.URL+"/streams", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

// Everything the store holds reaches the page as text: the script and markup
// in event data, metadata, types and stream names come out escaped.
func TestEscaping(t *testing.T) {
	f := seed(t, 1)
	srv := f.server(t, console.WithRegistry(f.reg), console.WithAggregate(f.repo))
	for _, path := range []string{
		"/stream?name=order-1",
		"/stream?name=" + url.QueryEscape("note-<i>x</i>"),
		"/streams", "/streams?category=note", "/categories",
		"/aggregate?stream=order-1",
		"/live?stream=" + url.QueryEscape("<script>alert(1)</script>"),
		"/stream?name=" + url.QueryEscape("<script>alert(1)</script>"), // 404 page echoes the name
		"/sagas", "/saga?stream=" + url.QueryEscape(saga.StreamOf("fulfilment", "2")),
		"/projection?name=orders", "/breaker?name=payments",
	} {
		t.Run(path, func(t *testing.T) {
			_, body := get(t, srv, path)
			lacks(t, body, "<script>alert", "<b onmouseover", "<i>x</i>", "<script>x()", "Note<b>", "<down>", "<full>", "<timeout>")
			// The only script element is the console's own.
			if n := strings.Count(body, "<script"); n != 1 {
				t.Errorf("%d script elements, want 1:\n%s", n, body)
			}
		})
	}
	body := mustGet(t, srv, "/stream?name=order-1")
	contains(t, body, `&lt;script&gt;alert(\&#34;x\&#34;)&lt;/script&gt;`, "&lt;b onmouseover")
	body = mustGet(t, srv, "/stream?name="+url.QueryEscape("note-<i>x</i>"))
	contains(t, body, "Note&lt;b&gt;", "&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;", "note-&lt;i&gt;x&lt;/i&gt;")
}

// Links carry names with characters that need escaping (space, '&', '%',
// '+', markup) to the right page.
func TestLinks(t *testing.T) {
	f := seed(t, 1)
	odd := "odd-a b&c%d+e<f>"
	mustAppend(t, f.store, odd, eventstore.EventData{Type: "Odd", Data: []byte(`{}`)})
	srv := f.server(t)
	follow := func(t *testing.T, page, id string) string {
		t.Helper()
		body := mustGet(t, srv, page)
		m := regexp.MustCompile(`<a href="([^"]+)"[^>]*>` + regexp.QuoteMeta(id) + `<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no link %q on %s:\n%s", id, page, body)
		}
		return mustGet(t, srv, "/"+html.UnescapeString(m[1]))
	}
	contains(t, follow(t, "/streams", "odd-a b&amp;c%d&#43;e&lt;f&gt;"), "Odd", "<h1>odd-a b&amp;c%d&#43;e&lt;f&gt;</h1>")
	contains(t, follow(t, "/stream?name="+url.QueryEscape(odd), "follow live"), `data-source="live/events?stream=odd-a&#43;b%26c%25d%2Be%3Cf%3E"`)
	contains(t, follow(t, "/stream?name="+url.QueryEscape(odd), "odd"), "Streams of category <strong>odd</strong>", "odd-a b&amp;c")
}

func TestActions(t *testing.T) {
	tokenRE := regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)
	post := func(t *testing.T, srv interface{ Client() *http.Client }, base string, form url.Values, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/actions/replay-parked", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		c := srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	requests := func(t *testing.T, s eventstore.Store) int {
		n := 0
		for e, err := range s.ReadStream(context.Background(), projection.ParkedStream("orders"), eventstore.ReadOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Type == projection.ReplayRequestedEventType {
				n++
			}
		}
		return n
	}

	t.Run("disabled", func(t *testing.T) {
		f := seed(t, 2)
		srv := f.server(t)
		body := mustGet(t, srv, "/projection?name=orders")
		lacks(t, body, "<form method=\"post\"")
		if res := post(t, srv, srv.URL, url.Values{"projection": {"orders"}}, ""); res.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", res.StatusCode)
		}
		if n := requests(t, f.store); n != 0 {
			t.Fatalf("%d replay requests written", n)
		}
	})
	t.Run("enabled", func(t *testing.T) {
		f := seed(t, 2)
		srv := f.server(t, console.WithActions())
		body := mustGet(t, srv, "/projection?name=orders")
		m := tokenRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no replay form:\n%s", body)
		}
		token := m[1]
		for _, tc := range []struct {
			name   string
			form   url.Values
			origin string
			code   int
		}{
			{"no token", url.Values{"projection": {"orders"}}, "", http.StatusForbidden},
			{"wrong token", url.Values{"projection": {"orders"}, "token": {strings.Repeat("0", 64)}}, "", http.StatusForbidden},
			{"cross-origin", url.Values{"projection": {"orders"}, "token": {token}}, "https://evil.example", http.StatusForbidden},
			{"bad name", url.Values{"projection": {"a-b"}, "token": {token}}, "", http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if res := post(t, srv, srv.URL, tc.form, tc.origin); res.StatusCode != tc.code {
					t.Fatalf("status %d, want %d", res.StatusCode, tc.code)
				}
				if n := requests(t, f.store); n != 0 {
					t.Fatalf("%d replay requests written", n)
				}
			})
		}
		res := post(t, srv, srv.URL, url.Values{"projection": {"orders"}, "token": {token}}, "")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "../projection?name=orders&requested=1" {
			t.Fatalf("status %d, location %q", res.StatusCode, res.Header.Get("Location"))
		}
		if n := requests(t, f.store); n != 1 {
			t.Fatalf("%d replay requests written, want 1", n)
		}
		contains(t, mustGet(t, srv, "/projection?name=orders&requested=1"), "Replay requested")
	})
	t.Run("sagas", func(t *testing.T) {
		f := seed(t, 2)
		srv := f.server(t, console.WithActions())
		stream := saga.StreamOf("fulfilment", "2")
		body := mustGet(t, srv, "/saga?stream="+url.QueryEscape(stream))
		tokens := tokenRE.FindAllStringSubmatch(body, -1)
		if len(tokens) != 2 {
			t.Fatalf("want a retry and a skip form:\n%s", body)
		}
		retry, skip := tokens[0][1], tokens[1][1]
		postTo := func(action string, form url.Values) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/actions/"+action, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			c := srv.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}
		for _, tc := range []struct {
			name, action string
			form         url.Values
			code         int
		}{
			{"retry with the skip token", "saga-retry", url.Values{"token": {skip}, "workflow": {"fulfilment"}, "id": {"2"}}, http.StatusForbidden},
			{"unknown saga", "saga-retry", url.Values{"token": {retry}, "workflow": {"fulfilment"}, "id": {"9"}}, http.StatusNotFound},
			{"completed saga", "saga-retry", url.Values{"token": {retry}, "workflow": {"fulfilment"}, "id": {"1"}}, http.StatusConflict},
			{"skip a step without failed compensation", "saga-skip", url.Values{"token": {skip}, "workflow": {"fulfilment"}, "id": {"2"}, "step": {"charge"}}, http.StatusConflict},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if res := postTo(tc.action, tc.form); res.StatusCode != tc.code {
					t.Fatalf("status %d, want %d", res.StatusCode, tc.code)
				}
				if st, _ := saga.Read(context.Background(), f.store, stream); st.Status != saga.NeedsAttention {
					t.Fatalf("saga moved to %s", st.Status)
				}
			})
		}
		res := postTo("saga-retry", url.Values{"token": {retry}, "workflow": {"fulfilment"}, "id": {"2"}})
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "../saga?requested=retry&stream=") {
			t.Fatalf("status %d, location %q", res.StatusCode, res.Header.Get("Location"))
		}
		if st, _ := saga.Read(context.Background(), f.store, stream); st.Status != saga.Compensating {
			t.Fatalf("saga is %s after the retry request", st.Status)
		}
		if res := postTo("saga-retry", url.Values{"token": {retry}, "workflow": {"fulfilment"}, "id": {"2"}}); res.StatusCode != http.StatusConflict {
			t.Fatalf("second retry: status %d", res.StatusCode)
		}
		contains(t, mustGet(t, srv, "/saga?requested=retry&stream="+url.QueryEscape(stream)), "Requested: retry")
	})
	t.Run("sagas disabled", func(t *testing.T) {
		f := seed(t, 2)
		srv := f.server(t)
		lacks(t, mustGet(t, srv, "/saga?stream="+url.QueryEscape(saga.StreamOf("fulfilment", "2"))), `action="actions/`)
		res, err := srv.Client().PostForm(srv.URL+"/actions/saga-skip", url.Values{"workflow": {"fulfilment"}, "id": {"2"}, "step": {"reserve"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

// The console works under a prefix, as a service mounts it.
func TestMounted(t *testing.T) {
	f := seed(t, 1)
	h, err := console.New(f.store)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", h))
	srv := httpServer(t, mux)
	body := mustGet(t, srv, "/console/")
	contains(t, body, `href="static/console.css"`, `href="streams"`)
	contains(t, mustGet(t, srv, "/console/static/console.css"), "font")
	contains(t, mustGet(t, srv, "/console/stream?name=order-1"), "OrderPlaced")
}

func TestLiveEvents(t *testing.T) {
	f := seed(t, 1)
	srv := f.server(t, console.WithRegistry(f.reg))
	// skip is written before write each time; the page must not get it.
	for _, tc := range []struct{ target, skip, write string }{
		{"", "chronicle-y", "order-9"},
		{"order-10", "order-11", "order-10"},
		{"%24all&framework=1", "", "chronicle-x"},
	} {
		t.Run("stream="+tc.target, func(t *testing.T) {
			// The handler's subscription goroutine ends with the request.
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			defer srv.Client().CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/live/events?stream="+tc.target, nil)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			lines := bufio.NewScanner(res.Body)
			next := func() string {
				if !lines.Scan() {
					t.Fatalf("stream ended: %v", lines.Err())
				}
				return lines.Text()
			}
			if l := next(); l != ": live" {
				t.Fatalf("first line %q", l)
			}
			// Appended after the subscription started (the writer keeps
			// appending until the test ends, as the subscription may start
			// after its first append): the console must deliver it, escaped
			// by JSON, later inserted as text.
			written := make(chan struct{})
			go func() {
				defer close(written)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					for _, stream := range []string{tc.skip, tc.write} {
						if stream == "" {
							continue
						}
						data, _ := f.reg.Encode(ctx, OrderPlaced{OrderID: "9", Amount: 1, Note: evil})
						if _, err := f.store.Append(ctx, stream, eventstore.Any, data); err != nil {
							return
						}
					}
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
			}()
			defer func() { cancel(); <-written }()
			for {
				l := next()
				if strings.HasPrefix(l, "data: {") {
					if !strings.Contains(l, `"stream":"`+tc.write+`"`) || !strings.Contains(l, `\u003cscript\u003e`) || !strings.Contains(l, `"schema":"valid"`) {
						t.Fatalf("event %s", l)
					}
					break
				}
			}
		})
	}
}

// Listing pages bound what they read: a page has at most limit rows, and
// the scan limit cuts a page short with a link to continue.
func TestPaging(t *testing.T) {
	f := seed(t, 7)
	t.Run("limit", func(t *testing.T) {
		srv := f.server(t)
		seen := map[string]bool{}
		path := "/streams?category=order&limit=3"
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			body := mustGet(t, srv, path)
			for _, m := range regexp.MustCompile(`href="stream\?name=(order-[^"]+)"`).FindAllStringSubmatch(body, -1) {
				if seen[m[1]] {
					t.Fatalf("%s listed twice", m[1])
				}
				seen[m[1]] = true
			}
			path = ""
			if m := regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body); m != nil {
				path = "/" + strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		if len(seen) != 8 { // order-1..7 and order-bad
			t.Fatalf("listed %v", seen)
		}
	})
	t.Run("scan limit", func(t *testing.T) {
		srv := f.server(t, console.WithScanLimit(2), console.WithPageSize(2))
		body := mustGet(t, srv, "/streams?framework=1")
		contains(t, body, "Examined 2 events of $all", `id="next"`)
		contains(t, mustGet(t, srv, "/categories"), "the scan limit")
		mustGet(t, srv, "/projections")
		mustGet(t, srv, "/breakers")
		contains(t, mustGet(t, srv, "/sagas?status=compensated"), "The scan limit ended this page")
	})
	t.Run("stream pages", func(t *testing.T) {
		srv := f.server(t)
		body := mustGet(t, srv, "/stream?name=order-1&from=0&limit=1")
		contains(t, body, `id="newer" href="stream?from=1&amp;limit=1&amp;name=order-1"`)
		body = mustGet(t, srv, "/stream?name=order-1&limit=1")
		contains(t, body, "OrderShipped", `id="older" href="stream?from=0&amp;limit=1&amp;name=order-1"`)
		lacks(t, body, "#0")
	})
	t.Run("aggregate pages", func(t *testing.T) {
		srv := f.server(t, console.WithAggregate(f.repo))
		body := mustGet(t, srv, "/aggregate?stream=order-1&limit=1")
		contains(t, body, "after OrderPlaced", `id="newer"`)
		body = mustGet(t, srv, "/aggregate?stream=order-1&from=1&limit=1")
		contains(t, body, "after OrderShipped", "earlier")
	})
}

func TestOptions(t *testing.T) {
	s := memory.New()
	defer s.Close()
	replay := func(context.Context, string) iter.Seq2[console.Step, error] { return nil }
	for name, opts := range map[string][]console.Option{
		"nil option":     {nil},
		"nil registry":   {console.WithRegistry(nil)},
		"nil logger":     {console.WithLogger(nil)},
		"page size":      {console.WithPageSize(0)},
		"page size big":  {console.WithPageSize(console.MaxPageSize + 1)},
		"scan limit":     {console.WithScanLimit(0)},
		"travel":         {console.WithTimeTravel("", replay)},
		"travel nil":     {console.WithTimeTravel("order", nil)},
		"travel twice":   {console.WithTimeTravel("order", replay), console.WithTimeTravel("order", replay)},
		"nil repository": {console.WithAggregate[Order](nil)},
		"target":         {console.WithTarget("", nil)},
		"nil target":     {console.WithTarget("db", nil)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := console.New(s, opts...); !errors.Is(err, console.ErrInvalidOption) {
				t.Fatalf("err %v", err)
			}
		})
	}
	if _, err := console.New(nil); !errors.Is(err, console.ErrInvalidOption) {
		t.Fatalf("nil store: %v", err)
	}
}

// A failing time travel hook and a failing target show as errors, not as
// broken pages.
func TestHookFailures(t *testing.T) {
	f := seed(t, 1)
	boom := errors.New("boom <b>")
	srv := f.server(t,
		console.WithTimeTravel("order", func(context.Context, string) iter.Seq2[console.Step, error] {
			return func(yield func(console.Step, error) bool) { yield(console.Step{}, boom) }
		}),
		console.WithTarget("db", reporter(func(context.Context) ([]projection.TargetStatus, error) { return nil, boom })),
		console.WithTarget("ok", reporter(func(context.Context) ([]projection.TargetStatus, error) {
			return []projection.TargetStatus{{Projection: "orders", Live: 2, Versions: []projection.VersionStatus{
				{Version: 1, Place: "orders.v1.db", Retired: time.Now()},
				{Version: 2, Place: "orders.v2.db", Checkpoints: []projection.PartitionCheckpoint{{Checkpoint: projection.At(eventstore.Position{Commit: 3, Prepare: 3})}}},
			}}}, nil
		})),
	)
	code, body := get(t, srv, "/aggregate?stream=order-1")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d", code)
	}
	contains(t, body, "boom &lt;b&gt;")
	body = mustGet(t, srv, "/projections")
	contains(t, body, "SQL target db", "boom &lt;b&gt;", "SQL target ok", "orders.v2.db", "2 (live)", "1 (retired)", "p0 all:C:3/P:3")
	contains(t, mustGet(t, srv, "/"), "2 SQL target(s)")
}

func TestClosedStore(t *testing.T) {
	f := seed(t, 1)
	srv := f.server(t, console.WithRegistry(f.reg))
	f.store.Close()
	for _, path := range []string{"/", "/streams", "/categories", "/stream?name=order-1", "/sagas", "/projections", "/breakers", "/projection?name=orders", "/breaker?name=payments", "/saga?stream=" + url.QueryEscape(saga.StreamOf("fulfilment", "1"))} {
		if code, _ := get(t, srv, path); code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", path, code)
		}
	}
}

// reporter adapts a function to projection.StatusReporter.
type reporter func(context.Context) ([]projection.TargetStatus, error)

func (r reporter) Statuses(ctx context.Context) ([]projection.TargetStatus, error) { return r(ctx) }
