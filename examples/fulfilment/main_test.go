package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRun runs the example on the embedded store, as `go run` does, and on
// the memory store, and checks the outcomes it prints.
func TestRun(t *testing.T) {
	for _, url := range []string{"sqlite://" + filepath.Join(t.TempDir(), "f.db"), "memory:"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), &out, url); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			text := out.String()
			outcomes := map[string]string{}
			for _, m := range regexp.MustCompile(`(?m)^order (\d+): (\S+)`).FindAllStringSubmatch(text, -1) {
				outcomes[m[1]] = m[2]
			}
			want := map[string]string{"1001": "completed", "1002": "compensated", "1003": "compensated", "1004": "completed"}
			for id, status := range want {
				if outcomes[id] != status {
					t.Errorf("order %s: %q, want %q\n%s", id, outcomes[id], status, text)
				}
			}
			for _, want := range []string{
				"card declined",           // why 1002 was compensated
				"address cannot be",       // why 1003 was
				"503 service unavailable", // 1004's failed attempts
				"stream order-1001: StockReserved, PaymentCharged, OrderShipped\n",
				"stream order-1002: StockReserved, StockReleased\n",
				"stream order-1003: StockReserved, PaymentCharged, PaymentRefunded, StockReleased\n",
				"stream order-1004: StockReserved, PaymentCharged, OrderShipped\n",
				"stock of lamp: 7 of 10",
				"payments: 3 charged, 1 refunded, net 8700 cents",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if !regexp.MustCompile(`BreakerOpened\s+3 consecutive failures\n.*BreakerHalfOpened\s*\n.*BreakerClosed\s+probe succeeded`).MatchString(text) {
				t.Errorf("breaker history is not opened, half-open, closed:\n%s", text)
			}
			// 1003 was compensated in reverse order: the refund before the release.
			i := strings.Index(text, "order 1003")
			block := text[i : i+strings.Index(text[i:], "SagaCompensated ")]
			if !regexp.MustCompile(`SagaStepCompensated\s+charge[^\n]*\n(.*\n)*.*SagaStepCompensated\s+reserve`).MatchString(block) {
				t.Errorf("order 1003 not compensated charge then reserve:\n%s", block)
			}
		})
	}
}

func TestRunBadStore(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, "nosuch:"); err == nil || !strings.Contains(err.Error(), "open store") {
		t.Fatalf("run on an unknown store: %v", err)
	}
}
