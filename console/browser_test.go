package console_test

import (
	"context"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chronicle-go/chronicle/console"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/saga"
)

// screenshots is where `go test -run TestBrowser -screenshots` leaves a PNG
// of each main page (the committed artifacts); without the flag they go to a
// temporary directory, so that running the tests changes no file.
const screenshots = "testdata/screenshots"

var saveScreenshots = flag.Bool("screenshots", false, "write the browser tests' screenshots to "+screenshots)

// browser returns a chromedp context on a headless Chromium, or skips the
// test when none is installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no Chromium found (install Debian's chromium package); skipping the browser tests")
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 800),
	)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(cancelCtx)
	// The first call starts the browser, which lives as long as ctx: no
	// timeout on it; each later step gets its own (step).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return ctx
}

// step bounds one browser step.
func step(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// shoot saves a screenshot of the viewport as name.png (see screenshots).
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(step(t, ctx), chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := t.TempDir()
	if *saveScreenshots {
		dir = screenshots
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	ctx := browser(t)
	f := seed(t, 3)
	srv := f.server(t, console.WithRegistry(f.reg), console.WithAggregate(f.repo), console.WithActions())
	visit := func(t *testing.T, path, ready string) {
		t.Helper()
		if err := chromedp.Do(step(t, ctx), chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS(ready))); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	text := func(t *testing.T, sel string) string {
		t.Helper()
		s, err := chromedp.Run(step(t, ctx), chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	count := func(t *testing.T, sel string) int {
		t.Helper()
		n, err := chromedp.Run(step(t, ctx), chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	scripts := func(t *testing.T) {
		t.Helper()
		if n := count(t, "script"); n != 1 {
			t.Fatalf("%d script elements in the page, want only the console's", n)
		}
	}

	t.Run("overview", func(t *testing.T) {
		visit(t, "/", "ul.cards")
		shoot(t, ctx, "overview")
	})
	t.Run("streams", func(t *testing.T) {
		visit(t, "/streams", "#streams")
		if rows := count(t, "#streams tbody tr"); rows != 6 { // order-1..3, order-bad, blob-1, note-<i>x</i>
			t.Fatalf("%d streams listed, want 6", rows)
		}
		if s := text(t, "#streams"); !strings.Contains(s, "note-<i>x</i>") {
			t.Fatalf("the stream named with markup is not shown as text:\n%s", s)
		}
		scripts(t)
		shoot(t, ctx, "streams")
	})
	t.Run("categories", func(t *testing.T) {
		visit(t, "/categories", "#categories")
		shoot(t, ctx, "categories")
	})
	t.Run("stream with script in its data", func(t *testing.T) {
		visit(t, "/stream?name=order-1", "#events")
		if s := text(t, "#rev-0 pre.data"); !strings.Contains(s, `<script>alert(\"x\")</script>`) {
			html, _ := chromedp.Run(step(t, ctx), chromedp.OuterHTML(chromedp.CSS("#rev-0")))
			t.Fatalf("the data is not shown as text: %q\n%s", s, html)
		}
		if count(t, "#events b") != 0 {
			t.Fatal("markup from the event data became elements")
		}
		scripts(t)
		shoot(t, ctx, "stream")
	})
	t.Run("invalid event", func(t *testing.T) {
		visit(t, "/stream?name=order-bad", "#events")
		if s := text(t, "#rev-0 .schema"); s != "invalid v1" {
			t.Fatalf("schema badge %q", s)
		}
		shoot(t, ctx, "stream-invalid")
	})
	t.Run("time travel", func(t *testing.T) {
		visit(t, "/aggregate?stream=order-1", "#steps")
		if s := text(t, "#steps"); !strings.Contains(s, `"shipped": true`) {
			t.Fatalf("no state after OrderShipped:\n%s", s)
		}
		shoot(t, ctx, "aggregate")
	})
	t.Run("live", func(t *testing.T) {
		visit(t, "/live", "#live")
		if _, err := chromedp.Run(step(t, ctx), chromedp.Poll[bool](`document.getElementById("live-status").textContent === "live"`)); err != nil {
			t.Fatalf("the live page did not catch up: %v", err)
		}
		data, _ := f.reg.Encode(context.Background(), OrderPlaced{OrderID: "42", Amount: 5, Note: evil})
		mustAppend(t, f.store, "order-42", data)
		if err := chromedp.Do(step(t, ctx), chromedp.WaitVisible(chromedp.CSS("#live tbody tr.event"))); err != nil {
			t.Fatalf("no live event: %v", err)
		}
		if s := text(t, "#live tbody tr.event"); !strings.Contains(s, "order-42@0") || !strings.Contains(s, "<script>") {
			t.Fatalf("live row %q", s)
		}
		scripts(t)
		shoot(t, ctx, "live")
	})
	t.Run("sagas", func(t *testing.T) {
		visit(t, "/sagas?status=needs-attention", "#sagas")
		shoot(t, ctx, "sagas")
		visit(t, "/saga?stream="+url.QueryEscape(saga.StreamOf("fulfilment", "2")), "#timeline")
		if s := text(t, "#timeline"); !strings.Contains(s, "SagaNeedsAttention") {
			t.Fatalf("timeline:\n%s", s)
		}
		shoot(t, ctx, "saga")
		if err := chromedp.Do(step(t, ctx), chromedp.Click(chromedp.CSS("form.skip button")), chromedp.WaitVisible(chromedp.CSS("#requested"))); err != nil {
			t.Fatalf("skip: %v", err)
		}
		if st, _ := saga.Read(context.Background(), f.store, saga.StreamOf("fulfilment", "2")); st.Status != saga.Compensating {
			t.Fatalf("saga is %s after the skip request", st.Status)
		}
	})
	t.Run("projections", func(t *testing.T) {
		visit(t, "/projections", "#checkpoints")
		shoot(t, ctx, "projections")
		visit(t, "/projection?name=orders", "#parked")
		shoot(t, ctx, "projection")
		// The replay button posts the form from the page: same origin,
		// with its token.
		if err := chromedp.Do(step(t, ctx), chromedp.Click(chromedp.CSS("#replay button")), chromedp.WaitVisible(chromedp.CSS("#requested"))); err != nil {
			t.Fatalf("replay: %v", err)
		}
		var requested bool
		for e, err := range f.store.ReadStream(context.Background(), "chronicle-parked-orders", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			requested = e.Type == "ProjectionReplayRequested"
		}
		if !requested {
			t.Fatal("no replay request in the parked stream")
		}
	})
	t.Run("breakers", func(t *testing.T) {
		visit(t, "/breakers", "#breakers")
		shoot(t, ctx, "breakers")
		visit(t, "/breaker?name=payments", "#history")
		shoot(t, ctx, "breaker")
	})
}
