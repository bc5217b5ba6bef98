package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
)

// The in-process read measurements: raw scans that bound ReadStream and
// ReadAll, allocations per event of a $all read, and aggregate loads.

// rawColumns are the columns of the events table (eventstore/sqlite's
// schema.go): a raw scan reads every one of them.
const rawColumns = `pos, stream, rev, id, type, json, data, meta, created`

// rawScan reads every row of an SQLite store's events table with a plain
// query through the same driver, and returns how many there were: the
// engine's own speed limit for a $all read. It knows the store's table
// (eventstore/sqlite's schema.go); the store has no API for it.
func rawScan(ctx context.Context, path string) (int, error) {
	return rawQuery(ctx, path, `SELECT `+rawColumns+` FROM events`)
}

// rawScanStream is rawScan for the rows of one stream, in revision order:
// the limit for a ReadStream of it.
func rawScanStream(ctx context.Context, path, stream string) (int, error) {
	return rawQuery(ctx, path, `SELECT `+rawColumns+` FROM events
		WHERE stream = (SELECT id FROM streams WHERE name = ?) ORDER BY rev`, stream)
}

// rawQuery scans the rows of query (over rawColumns) into Go values.
func rawQuery(ctx context.Context, path, query string, args ...any) (int, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("raw scan: %w", err)
	}
	defer rows.Close()
	var (
		pos, stream, rev, isJSON, created int64
		id, data, meta                    []byte
		typ                               string
		n                                 int
	)
	for rows.Next() {
		if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &isJSON, &data, &meta, &created); err != nil {
			return n, fmt.Errorf("raw scan: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("raw scan: %w", err)
	}
	return n, nil
}

// timedRawScan runs scan and returns rows per second.
func timedRawScan(scan func() (int, error)) (float64, error) {
	start := time.Now()
	n, err := scan()
	return rate(n, time.Since(start)), err
}

// mallocs returns the heap allocations the process has made so far.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// aggregateEvents is the length of the aggregate aggregateLoad loads, and
// aggregateLoads how many times it loads it: one load is over in tens of
// milliseconds, too short to time alone on a busy machine.
const (
	aggregateEvents = 10_000
	aggregateLoads  = 5
)

// aggregateLoad appends an aggregate of 10 000 OrderPlaced events, encoded
// by the registry (so with the metadata it writes), and times its loads
// through an aggregate.Repository (read, decode through the registry,
// evolve), in events per second. It also times encoding/json.Unmarshal of
// the same events' data alone, from memory, as many times (decode): the
// floor of any load that decodes its events with encoding/json one after
// the other.
func (r *runner) aggregateLoad() (load, decode float64, err error) {
	reg, err := benchRegistry()
	if err != nil {
		return 0, 0, err
	}
	// The category is the run's prefix without its '-': streams of the run
	// still start with the prefix ("bench" + "-" + run + "-aggregate").
	category, id, _ := strings.Cut(r.prefix, "-")
	typ := aggregate.Type[int]{
		Category: category,
		Evolve: func(total int, event any) int {
			if e, ok := event.(orderPlaced); ok {
				return total + e.Total
			}
			return total
		},
	}
	repo, err := aggregate.NewRepository(r.s, reg, typ)
	if err != nil {
		return 0, 0, err
	}
	id += "-aggregate"
	stream := typ.Stream(id)
	r.track(stream)
	ev := orderPlaced{OrderID: "order-42", Customer: "c-7", Lines: []orderLine{{SKU: "A-1", Qty: 2, Price: 1250}}, Total: 2500}
	batch := make([]any, 1000)
	for i := range batch {
		batch[i] = ev
	}
	for n := 0; n < aggregateEvents; n += len(batch) {
		data, err := reg.EncodeAll(r.ctx, batch...)
		if err != nil {
			return 0, 0, err
		}
		if _, err := r.s.Append(r.ctx, stream, eventstore.Any, data...); err != nil {
			return 0, 0, err
		}
		r.total.Add(int64(len(data)))
	}
	start := time.Now()
	for range aggregateLoads {
		root, err := repo.Load(r.ctx, id)
		switch {
		case err != nil:
			return 0, 0, err
		case root.State != aggregateEvents*ev.Total:
			return 0, 0, fmt.Errorf("the aggregate loaded with total %d, want %d", root.State, aggregateEvents*ev.Total)
		}
	}
	load = rate(aggregateLoads*aggregateEvents, time.Since(start))
	decode, err = r.decodeFloor(stream)
	return load, decode, err
}

// decodeFloor reads the data of stream's events into memory (the 10 000
// events of the aggregate, about 1 MB) and times encoding/json.Unmarshal of
// each into an orderPlaced, aggregateLoads times, in events per second.
func (r *runner) decodeFloor(stream string) (float64, error) {
	data := make([][]byte, 0, aggregateEvents)
	for rec, err := range r.s.ReadStream(r.ctx, stream, eventstore.ReadOptions{}) {
		if err != nil {
			return 0, err
		}
		data = append(data, rec.Data)
	}
	start := time.Now()
	for range aggregateLoads {
		for _, d := range data {
			var ev orderPlaced
			if err := json.Unmarshal(d, &ev); err != nil {
				return 0, fmt.Errorf("decode floor: %w", err)
			}
		}
	}
	return rate(aggregateLoads*len(data), time.Since(start)), nil
}
