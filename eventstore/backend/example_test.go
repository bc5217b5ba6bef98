package backend_test

import (
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// A backend prepares an append, asks what to do given the stream's state,
// and then does it in its own transaction.
func ExampleDecideAppend() {
	events, err := backend.PrepareAppend("order-1", []eventstore.EventData{{Type: "OrderPlaced", Data: []byte(`{}`)}})
	if err != nil {
		panic(err)
	}
	state := backend.StreamState{Exists: true, Last: 4}
	plan, err := backend.DecideAppend("order-1", eventstore.Exact(4), state, events, fakeLookup{})
	fmt.Println(plan.Write, plan.First, plan.Result.Next, err)

	_, err = backend.DecideAppend("order-1", eventstore.Exact(2), state, events, fakeLookup{})
	fmt.Println(err)
	// Output:
	// true 5 5 <nil>
	// eventstore: stream "order-1": wrong expected version: expected 2, actual 4
}
