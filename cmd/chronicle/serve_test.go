package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/internal/testcert"
)

// lines collects a command's output and hands out complete lines.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // incomplete: keep it
			return len(p), nil
		}
		l.ch <- strings.TrimSuffix(line, "\n")
	}
}

// startServe runs `chronicle serve args...`, returns the connection string it printed, a function that stops it
// (as SIGINT would) and returns its error, and its output lines.
func startServe(t *testing.T, args ...string) (string, func() error, *lines) {
	t.Helper()
	return startCommand(t, "a connection string", append([]string{"serve"}, args...), func(line string) (string, bool) {
		if conn, ok := strings.CutPrefix(line, "Connection string: "); ok {
			return conn, true
		}
		var started map[string]string // serve --json
		if json.Unmarshal([]byte(line), &started) == nil && started["event"] == "serving" {
			return started["connectionString"], true
		}
		return "", false
	})
}

// startCommand runs a long-running command until found picks what it needs
// from a line of its output; it returns that, a function that stops the
// command (as SIGINT would) and returns its error, and its output lines.
func startCommand(t *testing.T, what string, args []string, found func(line string) (string, bool)) (string, func() error, *lines) {
	t.Helper()
	root := newRootCmd()
	out := &lines{ch: make(chan string, 64)}
	root.SetOut(out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var (
		once    sync.Once
		stopErr error
	)
	stop := func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-out.ch:
			if v, ok := found(line); ok {
				t.Cleanup(func() { _ = stop() })
				return v, stop, out
			}
		case err := <-done:
			cancel()
			t.Fatalf("%s ended before printing %s: %v", args[0], what, err)
		case <-timeout:
			cancel()
			t.Fatalf("%s printed no %s", args[0], what)
		}
	}
}

// connect returns an official client for a connection string.
func connect(t *testing.T, conn string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServeCommand(t *testing.T) {
	ctx := context.Background()
	conn, stop, out := startServe(t, "--store", "memory:", "--addr", "127.0.0.1:0")
	if !strings.HasPrefix(conn, "esdb://127.0.0.1:") || !strings.HasSuffix(conn, "?tls=false") {
		t.Fatalf("connection string %q", conn)
	}
	c := connect(t, conn)
	ev := esdb.EventData{EventType: "Served", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	if _, err := c.AppendToStream(ctx, "serve-1", esdb.AppendToStreamOptions{}, ev); err != nil {
		t.Fatal(err)
	}
	sub, err := c.SubscribeToStream(ctx, "serve-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if e := sub.Recv(); e.EventAppeared == nil {
		t.Fatalf("subscription: %+v", e)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after interrupt: %v", err)
	}
	for e := sub.Recv(); e.SubscriptionDropped == nil; e = sub.Recv() {
	}
	var rest []string
	for len(out.ch) > 0 {
		rest = append(rest, <-out.ch)
	}
	if !strings.Contains(strings.Join(rest, "\n"), "Stopped.") {
		t.Errorf("output after stop: %q", rest)
	}
}

func TestServeCommandJSON(t *testing.T) {
	conn, stop, out := startServe(t, "--store", "memory:", "--addr", "127.0.0.1:0", "--json")
	if !strings.HasPrefix(conn, "esdb://127.0.0.1:") {
		t.Fatalf("connection string %q", conn)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for len(out.ch) > 0 {
		rest = append(rest, <-out.ch)
	}
	if len(rest) != 1 || rest[0] != `{"event":"stopped"}` {
		t.Errorf("output after stop: %q", rest)
	}
}

func TestServeCommandTLSAndUsers(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir)
	conn, _, _ := startServe(t, "--store", "memory:", "--addr", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile, "--user", "ops:secret", "--user", "admin:changeit")
	if !strings.HasPrefix(conn, "esdb://admin:<password>@127.0.0.1:") || !strings.Contains(conn, "tls=true") {
		t.Fatalf("connection string %q", conn)
	}
	c := connect(t, strings.Replace(conn, "<password>", "changeit", 1))
	if _, err := c.AppendToStream(context.Background(), "tls-1", esdb.AppendToStreamOptions{},
		esdb.EventData{EventType: "E", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestServeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad user flag", []string{"--store", "memory:", "--user", "nopassword"}, "want name:password"},
		{"users without TLS", []string{"--store", "memory:", "--user", "a:b"}, "needs WithTLS"},
		{"unknown store", []string{"--store", "nosuch://x"}, "open store"},
		{"half TLS", []string{"--store", "memory:", "--tls-cert", certFile}, "certificate and a key"},
		{"bad address", []string{"--store", "memory:", "--addr", "127.0.0.1"}, "address"},
		{"bad key", []string{"--store", "memory:", "--tls-cert", certFile, "--tls-key", certFile}, "load TLS"},
		{"arguments", []string{"extra"}, "unknown command"},
	}
	_ = keyFile
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd()
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&bytes.Buffer{})
			root.SetArgs(append([]string{"serve"}, tt.args...))
			err := root.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve %v = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
	// An address in use.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"serve", "--store", "memory:", "--addr", lis.Addr().String()})
	if err := root.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("serve on a taken address = %v", err)
	}
}
