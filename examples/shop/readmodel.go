package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
	projsqlite "github.com/chronicle-go/chronicle/projection/sqlite"
	"github.com/chronicle-go/chronicle/schema"
)

// The read models. Each is one projection with its own tables; the same
// handlers write them into SQLite (a *sql.Tx) or PostgreSQL (a pgx.Tx)
// through execer, with SQL both databases accept ($n parameters, ON
// CONFLICT upserts). The SQL targets commit each batch's writes with the
// projection's checkpoint, so every event takes effect exactly once and the
// handlers may add to counters.
const (
	projUsers   = "users"
	projOrders  = "orders_per_user"
	projRevenue = "revenue_per_day"
)

// execer is what a handler needs of a transaction.
type execer interface {
	exec(ctx context.Context, query string, args ...any) error
}

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, q, args...)
	return err
}

// ddl runs statements in order.
func ddl(stmts ...string) func(ctx context.Context, x execer) error {
	return func(ctx context.Context, x execer) error {
		for _, s := range stmts {
			if err := x.exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// definitions returns the three projections for transactions of type Tx,
// wrap turning one into an execer.
func definitions[Tx any](reg *schema.Registry, wrap func(Tx) execer) []*projection.Projection[Tx] {
	on := func(p *projection.Projection[Tx], setup func(context.Context, execer) error, tables ...string) *projection.Projection[Tx] {
		return p.Setup(func(ctx context.Context, tx Tx) error { return setup(ctx, wrap(tx)) }).Tables(tables...)
	}
	users := on(projection.New[Tx](projUsers, projection.Category(onboarding.UserType.Category), reg), ddl(
		`CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL,
			verified BOOLEAN NOT NULL, deactivated BOOLEAN NOT NULL, registered_at TEXT NOT NULL)`,
	), "users")
	handle(users, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.UserRegistered]) error {
		return x.exec(ctx, `INSERT INTO users VALUES ($1, $2, $3, FALSE, FALSE, $4)
			ON CONFLICT (user_id) DO NOTHING`, idOf(ev.Record), ev.Data.Email, ev.Data.Name, stamp(ev.Record))
	})
	handle(users, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.EmailVerified]) error {
		return x.exec(ctx, `UPDATE users SET verified = TRUE WHERE user_id = $1`, idOf(ev.Record))
	})
	handle(users, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.UserDeactivated]) error {
		return x.exec(ctx, `UPDATE users SET deactivated = TRUE WHERE user_id = $1`, idOf(ev.Record))
	})

	orders := on(projection.New[Tx](projOrders, projection.Category(onboarding.OrderType.Category), reg), ddl(
		`CREATE TABLE orders (order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, total_cents BIGINT NOT NULL,
			currency TEXT NOT NULL, status TEXT NOT NULL, placed_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
		`CREATE INDEX orders_by_user ON orders (user_id, placed_at)`,
	), "orders")
	handle(orders, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderPlaced]) error {
		return x.exec(ctx, `INSERT INTO orders VALUES ($1, $2, $3, $4, 'placed', $5, $5)
			ON CONFLICT (order_id) DO NOTHING`,
			idOf(ev.Record), ev.Data.UserID, ev.Data.TotalCents, ev.Data.Currency, stamp(ev.Record))
	})
	status := func(s onboarding.Status) func(ctx context.Context, x execer, rec eventstore.RecordedEvent) error {
		return func(ctx context.Context, x execer, rec eventstore.RecordedEvent) error {
			return x.exec(ctx, `UPDATE orders SET status = $1, updated_at = $2 WHERE order_id = $3`,
				string(s), stamp(rec), idOf(rec))
		}
	}
	handle(orders, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderPaid]) error {
		return status(onboarding.StatusPaid)(ctx, x, ev.Record)
	})
	handle(orders, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderShipped]) error {
		return status(onboarding.StatusShipped)(ctx, x, ev.Record)
	})
	handle(orders, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderCancelled]) error {
		return status(onboarding.StatusCancelled)(ctx, x, ev.Record)
	})

	// Revenue is booked on the day a payment is recorded and taken back on
	// the day its order is cancelled with a refund. OrderPaid does not carry
	// the currency, so the projection remembers each order's.
	revenue := on(projection.New[Tx](projRevenue, projection.Category(onboarding.OrderType.Category), reg), ddl(
		`CREATE TABLE order_amounts (order_id TEXT PRIMARY KEY, currency TEXT NOT NULL, paid_cents BIGINT NOT NULL)`,
		`CREATE TABLE revenue (day TEXT NOT NULL, currency TEXT NOT NULL, orders_paid BIGINT NOT NULL,
			gross_cents BIGINT NOT NULL, refunded_cents BIGINT NOT NULL, PRIMARY KEY (day, currency))`,
	), "order_amounts", "revenue")
	handle(revenue, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderPlaced]) error {
		return x.exec(ctx, `INSERT INTO order_amounts VALUES ($1, $2, 0) ON CONFLICT (order_id) DO NOTHING`,
			idOf(ev.Record), ev.Data.Currency)
	})
	handle(revenue, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderPaid]) error {
		id := idOf(ev.Record)
		if err := x.exec(ctx, `UPDATE order_amounts SET paid_cents = $1 WHERE order_id = $2`, ev.Data.AmountCents, id); err != nil {
			return err
		}
		return x.exec(ctx, `INSERT INTO revenue SELECT $1, currency, 1, paid_cents, 0 FROM order_amounts WHERE order_id = $2
			ON CONFLICT (day, currency) DO UPDATE SET orders_paid = revenue.orders_paid + 1,
				gross_cents = revenue.gross_cents + excluded.gross_cents`, day(ev.Record), id)
	})
	handle(revenue, wrap, func(ctx context.Context, x execer, ev projection.Event[onboarding.OrderCancelled]) error {
		if !ev.Data.Refund {
			return nil
		}
		return x.exec(ctx, `INSERT INTO revenue SELECT $1, currency, 0, 0, paid_cents FROM order_amounts
			WHERE order_id = $2 AND paid_cents > 0
			ON CONFLICT (day, currency) DO UPDATE SET refunded_cents = revenue.refunded_cents + excluded.refunded_cents`,
			day(ev.Record), idOf(ev.Record))
	})
	return []*projection.Projection[Tx]{users, orders, revenue}
}

// handle registers h for E on p.
func handle[E, Tx any](p *projection.Projection[Tx], wrap func(Tx) execer, h func(context.Context, execer, projection.Event[E]) error) {
	projection.On(p, func(ctx context.Context, tx Tx, ev projection.Event[E]) error { return h(ctx, wrap(tx), ev) })
}

// idOf is the aggregate ID of the stream "<category>-<id>".
func idOf(rec eventstore.RecordedEvent) string {
	_, id, _ := strings.Cut(rec.Stream, "-")
	return id
}

// stampLayout is RFC 3339 in UTC with a fixed number of digits, so that
// stamps sort and compare as text.
const stampLayout = "2006-01-02T15:04:05.000000000Z"

func stamp(rec eventstore.RecordedEvent) string { return rec.Created.UTC().Format(stampLayout) }
func day(rec eventstore.RecordedEvent) string   { return rec.Created.UTC().Format(time.DateOnly) }

// runner is a projection runner of either target.
type runner interface {
	Run(ctx context.Context) error
	WaitFor(ctx context.Context, p eventstore.Position) error
	WaitCaughtUp(ctx context.Context) error
}

// ReadModels runs the projections into their target and answers queries.
type ReadModels struct {
	runners map[string]runner
	// db returns the database and the table-name prefix of a projection's
	// live version.
	db    func(ctx context.Context, projection string) (*sql.DB, string, error)
	close func() error
	where string
}

// openSQLite runs the read models in SQLite files in dir.
func openSQLite(store eventstore.Store, reg *schema.Registry, dir string, opts ...projection.Option) (*ReadModels, error) {
	target, err := projsqlite.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	rm := &ReadModels{
		runners: map[string]runner{},
		db: func(ctx context.Context, name string) (*sql.DB, string, error) {
			db, err := target.DB(ctx, name)
			return db, "", err
		},
		close: target.Close,
		where: "SQLite files in " + dir,
	}
	for _, p := range definitions(reg, func(tx *sql.Tx) execer { return sqlTx{tx} }) {
		r, err := projection.NewRunner(store, p, target, opts...)
		if err != nil {
			return nil, errors.Join(err, target.Close())
		}
		rm.runners[p.Name()] = r
	}
	return rm, nil
}

// openPostgres runs the read models in the PostgreSQL database at url, in
// schemas whose names start with prefix.
func openPostgres(ctx context.Context, store eventstore.Store, reg *schema.Registry, url, prefix string, opts ...projection.Option) (*ReadModels, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	target, err := postgres.New(ctx, pool, postgres.WithSchema(prefix+"chronicle"), postgres.WithSchemaPrefix(prefix))
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("read models: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	rm := &ReadModels{
		runners: map[string]runner{},
		db: func(_ context.Context, name string) (*sql.DB, string, error) {
			return db, pgx.Identifier{target.Schema(name)}.Sanitize() + ".", nil
		},
		close: func() error { err := db.Close(); pool.Close(); return err },
		where: "PostgreSQL",
	}
	for _, p := range definitions(reg, func(tx pgx.Tx) execer { return pgTx{tx} }) {
		r, err := projection.NewRunner(store, p, target, opts...)
		if err != nil {
			return nil, errors.Join(err, rm.close())
		}
		rm.runners[p.Name()] = r
	}
	return rm, nil
}

// Run runs every projection until ctx ends or one fails.
func (rm *ReadModels) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(rm.runners))
	for name, r := range rm.runners {
		go func() {
			err := r.Run(ctx)
			if err != nil {
				err = fmt.Errorf("projection %s: %w", name, err)
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range rm.runners {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// WaitFor waits until the named projections have handled position p.
func (rm *ReadModels) WaitFor(ctx context.Context, p eventstore.Position, projections ...string) error {
	for _, name := range projections {
		if err := rm.runners[name].WaitFor(ctx, p); err != nil {
			return fmt.Errorf("projection %s: %w", name, err)
		}
	}
	return nil
}

// WaitCaughtUp waits until every projection has caught up with the store,
// so that its read model exists and is current.
func (rm *ReadModels) WaitCaughtUp(ctx context.Context) error {
	for name, r := range rm.runners {
		if err := r.WaitCaughtUp(ctx); err != nil {
			return fmt.Errorf("projection %s: %w", name, err)
		}
	}
	return nil
}

// Close releases the target.
func (rm *ReadModels) Close() error { return rm.close() }

// UserRow is a row of the user list.
type UserRow struct {
	ID           string `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	Verified     bool   `json:"verified"`
	Deactivated  bool   `json:"deactivated"`
	RegisteredAt string `json:"registeredAt"`
}

// OrderRow is a row of a user's orders.
type OrderRow struct {
	ID         string `json:"id"`
	UserID     string `json:"userId"`
	TotalCents int64  `json:"totalCents"`
	Currency   string `json:"currency"`
	Status     string `json:"status"`
	PlacedAt   string `json:"placedAt"`
	UpdatedAt  string `json:"updatedAt"`
}

// RevenueRow is one day's revenue in one currency.
type RevenueRow struct {
	Day           string `json:"day"`
	Currency      string `json:"currency"`
	OrdersPaid    int64  `json:"ordersPaid"`
	GrossCents    int64  `json:"grossCents"`
	RefundedCents int64  `json:"refundedCents"`
	NetCents      int64  `json:"netCents"`
}

// Users lists the users, oldest first.
func (rm *ReadModels) Users(ctx context.Context) ([]UserRow, error) {
	return query(ctx, rm, projUsers, `SELECT user_id, email, name, verified, deactivated, registered_at
		FROM %susers ORDER BY registered_at, user_id`, nil, func(r *UserRow) []any {
		return []any{&r.ID, &r.Email, &r.Name, &r.Verified, &r.Deactivated, &r.RegisteredAt}
	})
}

// OrdersOf lists a user's orders, oldest first.
func (rm *ReadModels) OrdersOf(ctx context.Context, userID string) ([]OrderRow, error) {
	return query(ctx, rm, projOrders, `SELECT order_id, user_id, total_cents, currency, status, placed_at, updated_at
		FROM %sorders WHERE user_id = $1 ORDER BY placed_at, order_id`, []any{userID}, func(r *OrderRow) []any {
		return []any{&r.ID, &r.UserID, &r.TotalCents, &r.Currency, &r.Status, &r.PlacedAt, &r.UpdatedAt}
	})
}

// Placed lists the IDs of the orders placed before t and not yet paid or
// cancelled.
func (rm *ReadModels) Placed(ctx context.Context, t time.Time) ([]string, error) {
	return query(ctx, rm, projOrders, `SELECT order_id FROM %sorders WHERE status = 'placed' AND placed_at < $1
		ORDER BY placed_at, order_id`, []any{t.UTC().Format(stampLayout)}, func(id *string) []any { return []any{id} })
}

// Revenue lists the revenue per day and currency, oldest first.
func (rm *ReadModels) Revenue(ctx context.Context) ([]RevenueRow, error) {
	rows, err := query(ctx, rm, projRevenue, `SELECT day, currency, orders_paid, gross_cents, refunded_cents
		FROM %srevenue ORDER BY day, currency`, nil, func(r *RevenueRow) []any {
		return []any{&r.Day, &r.Currency, &r.OrdersPaid, &r.GrossCents, &r.RefundedCents}
	})
	for i := range rows {
		rows[i].NetCents = rows[i].GrossCents - rows[i].RefundedCents
	}
	return rows, err
}

// query runs q (with %s where the table prefix goes) on a projection's live
// version and scans every row into a T through fields.
func query[T any](ctx context.Context, rm *ReadModels, proj, q string, args []any, fields func(*T) []any) ([]T, error) {
	db, prefix, err := rm.db(ctx, proj)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", proj, err)
	}
	rows, err := db.QueryContext(ctx, strings.ReplaceAll(q, "%s", prefix), args...)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", proj, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var t T
		if err := rows.Scan(fields(&t)...); err != nil {
			return nil, fmt.Errorf("read model %s: %w", proj, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read model %s: %w", proj, err)
	}
	return out, nil
}
