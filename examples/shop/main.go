// Command shop is a complete service built on Chronicle: users and orders
// as event-sourced aggregates, read models kept by projections in SQLite or
// PostgreSQL, an order-fulfilment saga with compensations, a payment
// provider and a mail server behind circuit breakers whose state is an
// event stream, an HTTP JSON API with optimistic concurrency and
// read-your-writes, and OpenTelemetry traces from each request through every
// asynchronous hop.
//
// Run the scripted demo (an embedded store in a temporary directory):
//
//	go run ./examples/shop -demo
//
// Run it as a server:
//
//	go run ./examples/shop --store sqlite://shop.db --addr 127.0.0.1:8080
//	go run ./examples/shop --store esdb://localhost:2113?tls=false --postgres postgres://…
//
// docs/service-guide.md walks through the code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	_ "github.com/chronicle-go/chronicle/eventstore/esdb"   // registers "esdb://"
	_ "github.com/chronicle-go/chronicle/eventstore/memory" // registers "memory:"
	_ "github.com/chronicle-go/chronicle/eventstore/sqlite" // registers "sqlite://", the default
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	demo       bool
	store      string
	postgres   string
	readModels string
	addr       string
	traces     string
	instance   string
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.demo, "demo", false, "run the scripted demo on an embedded store in a temporary directory, then exit")
	fs.StringVar(&o.store, "store", "", `event store URL: "sqlite://shop.db", "esdb://host:2113?tls=false", "memory:" (default ./chronicle.db)`)
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL URL for the read models (default: SQLite files beside the store)")
	fs.StringVar(&o.readModels, "readmodels", "", "directory of the SQLite read models (default: beside the store)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&o.instance, "instance", "", "this instance's ID in saga leases and breaker events: unique among running instances, the same across restarts (default the host name)")
	fs.StringVar(&o.traces, "traces", "", `where spans go: "stdout", "off" (default stdout for the server, off for the demo; OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set)`)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch o.traces {
	case "", "stdout", "off":
	default:
		return o, fmt.Errorf("--traces: %q is neither stdout nor off", o.traces)
	}
	if o.demo && (o.store != "" || o.postgres != "" || o.readModels != "") {
		return o, errors.New("-demo makes its own store and read models in a temporary directory: drop --store, --postgres and --readmodels")
	}
	return o, nil
}

// run is main with its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "shop:", err)
		return 2
	}
	if o.demo {
		err = runDemo(ctx, o, stdout, stderr)
	} else {
		err = serve(ctx, o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "shop:", err)
		return 1
	}
	return 0
}

// readModelsDir is the directory of the SQLite read models beside a store
// URL: "sqlite://data/shop.db" keeps them in "data/shop-readmodels".
func readModelsDir(storeURL string) string {
	if storeURL == "" {
		storeURL = eventstore.DefaultURL
	}
	path, ok := strings.CutPrefix(storeURL, "sqlite://")
	if !ok {
		return "shop-readmodels"
	}
	path, _, _ = strings.Cut(path, "?")
	return strings.TrimSuffix(path, filepath.Ext(path)) + "-readmodels"
}

// server is the service at work: its store, its projections and sagas
// running, its API listening.
type server struct {
	store   eventstore.Store
	svc     *Service
	http    *http.Server
	addr    string
	stopRun context.CancelFunc
	done    chan error // Run's or Serve's first error, or nil when stopped
	ran     chan error // Run's error
}

// start opens the store at storeURL, builds the service on it from cfg
// (its Store set here), and serves the API on addr ("127.0.0.1:0": any
// port).
func start(ctx context.Context, storeURL, addr string, cfg Config) (_ *server, err error) {
	s := &server{done: make(chan error, 2), ran: make(chan error, 1)}
	if s.store, err = eventstore.Open(ctx, storeURL); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	cfg.Store = s.store
	if s.svc, err = New(ctx, cfg); err != nil {
		return nil, errors.Join(err, s.store.Close())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errors.Join(err, s.svc.Close(), s.store.Close())
	}
	s.addr = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s.svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	var runCtx context.Context
	runCtx, s.stopRun = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		err := s.svc.Run(runCtx)
		s.ran <- err
		s.done <- err
	}()
	// The API opens once the read models have caught up: before, a read
	// model could be missing (a new store) or behind.
	if err := s.svc.read.WaitCaughtUp(ctx); err != nil {
		ln.Close()
		s.stopRun()
		return nil, errors.Join(err, <-s.ran, s.svc.Close(), s.store.Close())
	}
	go func() {
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.done <- err
		}
	}()
	return s, nil
}

// shutdown stops accepting requests and lets those in flight finish, stops
// the projections (their checkpoints are committed) and the sweeps that
// start and resume sagas, lets the sagas that requests started end (when
// ctx ends first, they are cancelled, and Run resumes them at the next
// start), and closes the service and the store.
func (s *server) shutdown(ctx context.Context) error {
	errs := []error{s.http.Shutdown(ctx)}
	s.stopRun()
	errs = append(errs, <-s.ran)
	s.svc.Drain(ctx)
	errs = append(errs, s.svc.Close(), s.store.Close())
	return errors.Join(errs...)
}

// serve runs the service as a server until ctx ends or it fails, then shuts
// it down and flushes the traces.
func serve(ctx context.Context, o options, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var out io.Writer = stdout
	if o.traces == "off" {
		out = nil
	}
	tp, err := newTracerProvider(ctx, out)
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))
	if o.readModels == "" && o.postgres == "" {
		if strings.HasPrefix(o.store, "memory:") {
			// A memory store starts empty: so must its read models.
			dir, err := os.MkdirTemp("", "shop-readmodels-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			o.readModels = dir
		} else {
			o.readModels = readModelsDir(o.store)
		}
	}
	s, err := start(ctx, o.store, o.addr, Config{ReadModels: o.readModels, Postgres: o.postgres, InstanceID: o.instance,
		TracerProvider: tp, Logger: log})
	if err != nil {
		return err
	}
	log.Info("shop listening", slog.String("addr", s.addr), slog.String("readModels", s.svc.read.where))
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-s.done:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return errors.Join(failed, s.shutdown(shutdownCtx))
}
