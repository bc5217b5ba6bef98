package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/saga"
)

func TestReadModelsDir(t *testing.T) {
	for store, want := range map[string]string{
		"":                             "chronicle-readmodels",
		"sqlite://shop.db":             "shop-readmodels",
		"sqlite:///var/lib/shop/ev.db": "/var/lib/shop/ev-readmodels",
		"sqlite://data/shop.db?x=1":    "data/shop-readmodels",
		"esdb://localhost:2113":        "shop-readmodels",
	} {
		if got := readModelsDir(store); got != want {
			t.Errorf("readModelsDir(%q) = %q, want %q", store, got, want)
		}
	}
}

// Bad command lines exit 2 with a message and start nothing.
func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-demo", "--store", "memory:"}, "-demo makes its own store"},
		{[]string{"-demo", "--postgres", "postgres://x"}, "-demo makes its own store"},
		{[]string{"--traces", "file"}, `--traces: "file" is neither stdout nor off`},
		{[]string{"serve"}, "unexpected arguments"},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		var out, errs bytes.Buffer
		if code := run(t.Context(), c.args, &out, &errs); code != 2 || !strings.Contains(errs.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errs.String(), c.want)
		}
	}
}

// A server shut down and started again on the same files finds its events
// and read models, and goes on from its projections' checkpoints.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{ReadModels: filepath.Join(dir, "readmodels"), Sweep: -1,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	url := "sqlite://" + filepath.Join(dir, "shop.db")
	s, stop := served(t, url, cfg)
	ada := s.user("ada")
	order, _ := s.order(ada, 1000)
	s.fulfilled(order)
	if err := stop(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	s, _ = served(t, url, cfg)
	var orders []OrderRow
	s.must(http.StatusOK, "GET", "/users/"+ada+"/orders", nil, &orders)
	if len(orders) != 1 || orders[0].ID != order || orders[0].Status != "shipped" {
		t.Fatalf("orders after a restart: %+v", orders)
	}
	bob := s.user("bob")
	var users []UserRow
	s.must(http.StatusOK, "GET", "/users", nil, &users)
	if len(users) != 2 || users[0].ID != ada || users[1].ID != bob {
		t.Fatalf("users after a restart: %+v", users)
	}
}

// A shutdown that cannot wait for a saga cancels it where it is; the
// instance, restarted on the same files, resumes it at once (its own lease)
// and finishes it.
func TestShutdownMidSaga(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "shop.db")
	slow := NewPayments()
	slow.SetDelay(time.Hour)
	cfg := Config{ReadModels: filepath.Join(dir, "readmodels"), Payments: slow, InstanceID: "shop-1", Sweep: time.Hour,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	s, stop := served(t, url, cfg)
	ada := s.user("ada")
	order, _ := s.order(ada, 1000)
	for charging := false; !charging; time.Sleep(5 * time.Millisecond) {
		var v FulfilmentView
		s.must(http.StatusOK, "GET", "/orders/"+order+"/fulfilment", nil, &v)
		charging = len(v.Steps) == 4 && v.Steps[2].Status == saga.StepRunning
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := stop(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	cfg.Payments = NewPayments()
	s, _ = served(t, url, cfg)
	if v := s.fulfilled(order); v.Status != saga.Completed {
		t.Fatalf("after the restart the saga is %s: %+v", v.Status, v.Timeline)
	}
}

// served starts a server on the store at url and returns a client of it
// and the function that shuts it down; the test's end shuts it down if the
// test did not.
func served(t *testing.T, url string, cfg Config) (*shop, func(context.Context) error) {
	t.Helper()
	srv, err := start(t.Context(), url, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func(ctx context.Context) (err error) {
		once.Do(func() { err = srv.shutdown(ctx) })
		return err
	}
	t.Cleanup(func() {
		if err := stop(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &shop{t: t, svc: srv.svc, srv: &httptest.Server{URL: srv.addr}, payments: srv.svc.deps.payments}, stop
}
