package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/chronicle-go/chronicle/console"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// A service mounts the console under a prefix of its API's mux.
func ExampleNew() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	_, _ = store.Append(ctx, "order-42", eventstore.NoStream,
		eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"orderId":"42"}`)})

	h, err := console.New(store) // read-only; console.WithActions() enables actions
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/console/stream?name=order-42")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, strings.Contains(string(page), "OrderPlaced"))
	// Output: 200 true
}
