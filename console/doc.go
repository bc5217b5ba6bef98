// Package console is Chronicle's web console: an http.Handler that shows what
// an event store holds — streams and categories, events rendered through the
// published schemas, live events, aggregates replayed event by event (time
// travel), sagas, projections and circuit breakers — for people debugging a
// service.
//
// # Mounting
//
// New returns a handler over a Store. The command `chronicle console` serves
// it on a loopback address; a service mounts it beside its API, under a
// prefix of its choice:
//
//	h, err := console.New(store,
//		console.WithRegistry(registry),       // decode with the service's Go types
//		console.WithAggregate(orders),        // time travel for the "order" category
//		console.WithTarget("sqlite", target)) // a projection/sqlite target
//	mux.Handle("/console/", http.StripPrefix("/console", h))
//
// Every link the console writes is relative, so it works under any prefix.
// The console has no authentication of its own: mount it behind the
// service's, or serve it on loopback only.
//
// # Pages
//
//	/              overview: the head of $all and links to every page
//	/streams       streams, newest first, paged; ?category= keeps one category
//	/categories    categories of the newest streams, with counts
//	/stream        one stream's events, paged, through the published schemas and raw
//	/live          $all or one stream, live, through server-sent events (/live/events)
//	/aggregate     an aggregate's state after each event (with a time travel hook)
//	/sagas, /saga  sagas by status, one saga's steps and timeline
//	/projections, /projection  checkpoints, lag, parked events, SQL targets
//	/breakers, /breaker        circuit breakers and their state histories
//
// # Bounded memory
//
// The store has no list of streams, so the console finds streams by reading
// $all backwards for first events (revision 0): each page reads until it
// has a page of streams or has examined a bounded number of events, and then
// offers to continue from where it stopped. Nothing reads all of $all into
// memory. A stream whose first event a scavenge removed is not listed; it
// still opens by name.
//
// # Actions
//
// The console is read-only unless WithActions is given. Actions — replaying
// a projection's parked events, retrying or skipping the failed compensation
// of a saga that needs attention — record a request as an event
// (projection.RequestReplay, saga.RequestRetry, saga.RequestSkip) that the
// service's runners and engines carry out. They are POST forms that carry a
// token bound to the handler and the action, and pass through
// http.CrossOriginProtection, so another site cannot make a browser submit
// them.
//
// # Escaping
//
// Pages are rendered with html/template, which escapes everything the store
// holds: event types, stream names, data and metadata. The one script is a
// static file; live events are inserted with textContent.
package console
