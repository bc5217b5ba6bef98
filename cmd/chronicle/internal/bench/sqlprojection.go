package bench

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
	projsqlite "github.com/chronicle-go/chronicle/projection/sqlite"
)

// The SQL measurements project $all into a table of one row per event,
// (stream, revision, order id, total), with the checkpoint in the same
// transaction (projection/sqlite, projection/postgres), and compare with
// plain batched inserts of the same rows into the same database: the same
// INSERT per row, batches of projection.DefaultBatchSize rows per
// transaction, timed without the reads that produce the rows.

const (
	benchTable  = "bench_orders"
	createTable = `CREATE TABLE ` + benchTable + ` (stream TEXT NOT NULL, revision BIGINT NOT NULL, order_id TEXT NOT NULL,
	total BIGINT NOT NULL, PRIMARY KEY (stream, revision))`
	insertRow = `INSERT INTO ` + benchTable + ` (stream, revision, order_id, total) VALUES ($1, $2, $3, $4)`
)

// sqlExec runs one statement in a transaction of type Tx.
type sqlExec[Tx any] func(ctx context.Context, tx Tx, query string, args ...any) error

// projectSQL catches a projection over $all up into target, one row per
// event, and returns events of $all per second.
func projectSQL[Tx any](r *runner, name string, target projection.Target[Tx], exec sqlExec[Tx], allEvents int) (float64, error) {
	reg, err := benchRegistry()
	if err != nil {
		return 0, err
	}
	handled := 0
	p := projection.New[Tx](name, projection.AllStreams(), reg).
		Setup(func(ctx context.Context, tx Tx) error { return exec(ctx, tx, createTable) }).
		Tables(benchTable)
	projection.On(p, func(ctx context.Context, tx Tx, ev projection.Event[orderPlaced]) error {
		if r.placedByRun(&ev.Record) {
			handled++
		}
		return exec(ctx, tx, insertRow, ev.Record.Stream, int64(ev.Record.Revision), ev.Data.OrderID, int64(ev.Data.Total))
	})
	return catchUp(r, p, target, allEvents, &handled)
}

// insertRows inserts the rows of $all's OrderPlaced events in batches, one
// transaction each, and returns rows per second of insert time.
func insertRows[Tx any](r *runner, begin func(ctx context.Context) (Tx, error), commit, rollback func(Tx) error, exec sqlExec[Tx]) (float64, error) {
	reg, err := benchRegistry()
	if err != nil {
		return 0, err
	}
	type row struct {
		stream   string
		revision int64
		orderID  string
		total    int64
	}
	batch := make([]row, 0, projection.DefaultBatchSize)
	var spent time.Duration
	n := 0
	flush := func() error {
		start := time.Now()
		tx, err := begin(r.ctx)
		if err != nil {
			return err
		}
		for _, w := range batch {
			if err := exec(r.ctx, tx, insertRow, w.stream, w.revision, w.orderID, w.total); err != nil {
				return errors.Join(err, rollback(tx))
			}
		}
		if err := commit(tx); err != nil {
			return err
		}
		spent += time.Since(start)
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for e, err := range r.s.ReadAll(r.ctx, eventstore.ReadAllOptions{Filter: eventstore.ExcludeFrameworkFilter()}) {
		if err != nil {
			return 0, err
		}
		if e.Type != "OrderPlaced" {
			continue
		}
		ev, err := reg.Decode(e)
		if err != nil {
			continue // the projection skips it too
		}
		o := ev.Data.(orderPlaced)
		batch = append(batch, row{e.Stream, int64(e.Revision), o.OrderID, int64(o.Total)})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return 0, err
		}
	}
	return rate(n, spent), nil
}

// sqliteProjection measures projection/sqlite in a directory beside the
// store, and plain inserts into a SQLite file there with the same settings.
func (r *runner) sqliteProjection(dir string, allEvents int) (perS, inserts float64, err error) {
	dir, err = os.MkdirTemp(dir, ".chronicle-bench-readmodels-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	target, err := projsqlite.Open(dir)
	if err != nil {
		return 0, 0, err
	}
	exec := func(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
		_, err := tx.ExecContext(ctx, sqliteQuery(q), args...)
		return err
	}
	perS, err = projectSQL(r, "chronicle_bench", target, exec, allEvents)
	if cerr := target.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, err
	}
	// The same connection settings as the target's writer.
	u := url.URL{Path: filepath.ToSlash(filepath.Join(dir, "plain.db"))}
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(r.ctx, createTable); err != nil {
		return 0, 0, err
	}
	inserts, err = insertRows(r, func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) },
		(*sql.Tx).Commit, (*sql.Tx).Rollback, exec)
	return perS, inserts, err
}

// sqliteQuery turns the $n placeholders of the shared statements into ?.
func sqliteQuery(q string) string {
	return strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?").Replace(q)
}

// postgresProjection measures projection/postgres in the database at
// pgURL, in schemas of this run that it drops at the end, and plain inserts
// into a table there.
func (r *runner) postgresProjection(pgURL string, allEvents int) (perS, inserts float64, err error) {
	pool, err := pgxpool.New(r.ctx, pgURL)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	prefix := strings.ReplaceAll(r.prefix, "-", "_") + "_"
	defer func() {
		if derr := dropSchemas(context.WithoutCancel(r.ctx), pool, prefix); err == nil {
			err = derr
		}
	}()
	target, err := postgres.New(r.ctx, pool, postgres.WithSchema(prefix+"control"), postgres.WithSchemaPrefix(prefix))
	if err != nil {
		return 0, 0, err
	}
	exec := func(ctx context.Context, tx pgx.Tx, q string, args ...any) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	}
	if perS, err = projectSQL(r, "chronicle_bench", target, exec, allEvents); err != nil {
		return 0, 0, err
	}
	plain := pgx.Identifier{prefix + "inserts"}.Sanitize()
	if _, err := pool.Exec(r.ctx, `CREATE SCHEMA `+plain); err != nil {
		return 0, 0, err
	}
	conn, err := pool.Acquire(r.ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(r.ctx, `SET search_path TO `+plain); err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(r.ctx, createTable); err != nil {
		return 0, 0, err
	}
	inserts, err = insertRows(r, func(ctx context.Context) (pgx.Tx, error) { return conn.Begin(ctx) },
		func(tx pgx.Tx) error { return tx.Commit(r.ctx) }, func(tx pgx.Tx) error { return tx.Rollback(r.ctx) }, exec)
	return perS, inserts, err
}

// dropSchemas drops the schemas whose names start with prefix.
func dropSchemas(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
	rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, prefix)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{n}.Sanitize()+` CASCADE`); err != nil {
			return err
		}
	}
	return nil
}
