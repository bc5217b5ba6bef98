package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "chronicle")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := sqlite.Open(ctx, filepath.Join(dir, "chronicle.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	r, _ := s.Append(ctx, "order-42", eventstore.NoStream,
		eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"total":12}`)},
		eventstore.EventData{Type: "OrderPaid", Data: []byte(`{"amount":12}`)})
	fmt.Println("next:", r.Next, "position:", r.Position)

	for e, err := range s.ReadStream(ctx, "order-42", eventstore.ReadOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}
	// Output:
	// next: 1 position: C:2/P:2
	// 0 OrderPlaced {"total":12}
	// 1 OrderPaid {"amount":12}
}

func ExampleReadOnly() {
	dir, _ := os.MkdirTemp("", "chronicle")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "chronicle.db")

	w, _ := sqlite.Open(ctx, path) // the one writer
	defer w.Close()
	w.Append(ctx, "order-42", eventstore.NoStream, eventstore.EventData{Type: "OrderPlaced"})

	_, err := sqlite.Open(ctx, path) // a second writer is refused
	fmt.Println(errors.Is(err, sqlite.ErrLocked))

	r, _ := sqlite.Open(ctx, path, sqlite.ReadOnly()) // readers are welcome
	defer r.Close()
	for e := range r.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		fmt.Println(e.Stream, e.Type)
	}
	// Output:
	// true
	// order-42 OrderPlaced
}
