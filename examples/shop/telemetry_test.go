package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Spans go to the writer as JSON by default, and to an OTLP collector over
// HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
func TestTracerProvider(t *testing.T) {
	t.Run("stdout", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
		var out bytes.Buffer
		exportOneSpan(t, &out)
		if !strings.Contains(out.String(), `"Name":"a span"`) {
			t.Fatalf("stdout exporter wrote %q", out.String())
		}
	})
	t.Run("otlp", func(t *testing.T) {
		var mu sync.Mutex
		var paths []string
		collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		defer collector.Close()
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
		var out bytes.Buffer
		exportOneSpan(t, &out)
		mu.Lock()
		defer mu.Unlock()
		if len(paths) != 1 || paths[0] != "POST /v1/traces application/x-protobuf" {
			t.Fatalf("collector saw %q", paths)
		}
		if out.Len() != 0 {
			t.Errorf("with OTLP set, the writer got %q too", out.String())
		}
	})
}

// exportOneSpan exports one span named "a span" through newTracerProvider.
func exportOneSpan(t *testing.T, out io.Writer) {
	t.Helper()
	tp, err := newTracerProvider(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "a span")
	span.End()
	if err := tp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}
