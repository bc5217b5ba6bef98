package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/saga"
)

// The same binary runs on EventStoreDB: only the store URL changes. The
// node is Chronicle's own EventStoreDB protocol server over a memory store,
// reached through the official client (the esdb:// backend), as the esdb
// backend's own tests do.
func TestOnEventStoreDB(t *testing.T) {
	node, err := esdbserver.New(memory.New(), esdbserver.WithAddress("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		<-nodeDone
	})

	s, _ := served(t, node.ConnectionString(), Config{
		ReadModels: filepath.Join(t.TempDir(), "readmodels"), Sweep: -1,
		Breakers: BreakerSettings{Failures: 1, Open: time.Hour},
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	ada := s.user("ada")
	shipped, _ := s.order(ada, 1000)
	if v := s.fulfilled(shipped); v.Status != saga.Completed {
		t.Fatalf("order %s: %s", shipped, v.Status)
	}
	s.payments.SetDown(true)
	failed, _ := s.order(ada, 2000)
	if v := s.fulfilled(failed); v.Status != saga.Compensated {
		t.Fatalf("order %s: %s", failed, v.Status)
	}
	var orders []OrderRow
	s.must(http.StatusOK, "GET", "/users/"+ada+"/orders", nil, &orders)
	if len(orders) != 2 || orders[0].Status != "shipped" || orders[1].Status != "cancelled" {
		t.Errorf("orders %+v", orders)
	}
	var b BreakerView
	s.must(http.StatusOK, "GET", "/breakers/payments", nil, &b)
	if b.State != "open" || len(b.History) != 1 {
		t.Errorf("breaker %+v, want open, its transition in the EventStoreDB stream", b)
	}
}
