// Command quickstart opens Chronicle's default embedded store
// (./chronicle.db), appends events, reads them back, subscribes to them and
// prints what happened. Run it with:
//
//	go run ./examples/quickstart
//
// Each run appends to the same file, so a second run shows the first run's
// events too: they are durable.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	_ "github.com/chronicle-go/chronicle/eventstore/sqlite" // registers "sqlite://", the default
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	url := os.Getenv("CHRONICLE_STORE") // "" means the embedded store in ./chronicle.db
	store, err := eventstore.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	fmt.Printf("opened %s\n", describe(url))

	// 1. Append: a new order stream. NoStream makes the append fail if the
	// stream already exists, so two writers cannot both create it.
	order := "order-" + uuid.NewString()[:8]
	res, err := store.Append(ctx, order, eventstore.NoStream,
		eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"sku":"book","qty":2}`)},
		eventstore.EventData{Type: "OrderPaid", Data: []byte(`{"amount":39.90}`)})
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	fmt.Printf("appended 2 events to %s: last revision %v, position %v\n", order, res.Next, res.Position)

	// 2. Optimistic concurrency: a writer that still believes the stream is
	// new is told it is wrong, and nothing is written.
	_, err = store.Append(ctx, order, eventstore.NoStream, eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{}`)})
	var wrong *eventstore.WrongExpectedVersionError
	if errors.As(err, &wrong) {
		fmt.Printf("conflict detected: expected %v, stream is at %v\n", wrong.Expected, wrong.Actual)
	}

	// 3. Read the stream back.
	fmt.Printf("reading %s:\n", order)
	for e, err := range store.ReadStream(ctx, order, eventstore.ReadOptions{}) {
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		fmt.Printf("  #%d %-12s %s\n", e.Revision, e.Type, e.Data)
	}

	// 4. Subscribe to every order stream: catch up on what is stored (this
	// run's events and earlier runs'), then receive a live event.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	caughtUp, stored := false, 0
	for msg, err := range store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("order-")}) {
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		switch msg.Kind {
		case eventstore.MessageEvent:
			if !caughtUp {
				stored++
				continue
			}
			fmt.Printf("live event: %s %s at %v\n", msg.Event.Stream, msg.Event.Type, msg.Event.Position)
			return nil
		case eventstore.MessageCaughtUp:
			caughtUp = true
			fmt.Printf("subscription caught up after %d stored order events; appending one more\n", stored)
			if _, err := store.Append(ctx, order, res.Next, eventstore.EventData{Type: "OrderShipped", Data: []byte(`{"carrier":"post"}`)}); err != nil {
				return fmt.Errorf("append: %w", err)
			}
		}
	}
	return ctx.Err()
}

func describe(url string) string {
	if url == "" {
		return "the embedded store " + eventstore.DefaultURL
	}
	return url
}
