package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/projection"
)

// Target keeps read models and their checkpoints in one PostgreSQL
// database. It is safe for concurrent use; see the package documentation.
type Target struct {
	pool   *pgxpool.Pool
	schema string // the control schema, unquoted
	prefix string // prefix of read-model schemas

	// quoted control tables
	projections, versions, checkpoints string
}

var (
	_ projection.Target[pgx.Tx]     = (*Target)(nil)
	_ projection.Preparer[pgx.Tx]   = (*Target)(nil)
	_ projection.Rebuilder          = (*Target)(nil)
	_ projection.Transactor[pgx.Tx] = (*Target)(nil)
)

// An Option configures a Target.
type Option func(*Target) error

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// WithSchema sets the schema of the control tables (default "chronicle"):
// a lowercase identifier of at most 63 bytes.
func WithSchema(name string) Option {
	return func(t *Target) error {
		if !identRE.MatchString(name) || len(name) > 63 {
			return fmt.Errorf("%w: schema %q is not a lowercase identifier of at most 63 bytes", ErrInvalidOption, name)
		}
		t.schema = name
		return nil
	}
}

// WithSchemaPrefix prefixes the names of every read-model schema (default
// none): with prefix "rm_", projection "orders" lives in schema "rm_orders".
// The prefix is lowercase letters, digits and '_', at most 20 bytes.
func WithSchemaPrefix(prefix string) Option {
	return func(t *Target) error {
		if prefix != "" && (!identRE.MatchString(prefix) || len(prefix) > 20) {
			return fmt.Errorf("%w: schema prefix %q is not lowercase letters, digits and '_' of at most 20 bytes", ErrInvalidOption, prefix)
		}
		t.prefix = prefix
		return nil
	}
}

// New returns a Target over pool. It checks that the database is reachable
// (ErrUnreachable otherwise) and creates the control schema and its tables
// if they do not exist.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Target, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidOption)
	}
	t := &Target{pool: pool, schema: "chronicle"}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(t); err != nil {
			return nil, err
		}
	}
	q := pgx.Identifier{t.schema}.Sanitize()
	t.projections, t.versions, t.checkpoints = q+".projections", q+".projection_versions", q+".checkpoints"
	if err := pool.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: connect: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if err := t.migrate(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// migrate creates the control tables, under an advisory lock so that
// targets starting together do not race on the catalog.
func (t *Target) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		q := pgx.Identifier{t.schema}.Sanitize()
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('chronicle.projection.migrate'))`)
		if err != nil {
			return fmt.Errorf("postgres: create control tables: %w", err)
		}
		_, err = tx.Exec(ctx, `
CREATE SCHEMA IF NOT EXISTS `+q+`;
CREATE TABLE IF NOT EXISTS `+t.projections+` (
	projection  text PRIMARY KEY,
	schema      text NOT NULL UNIQUE,
	live        integer NOT NULL DEFAULT 0,
	created_at  timestamptz NOT NULL DEFAULT now(),
	promoted_at timestamptz
);
CREATE TABLE IF NOT EXISTS `+t.versions+` (
	projection  text NOT NULL,
	version     integer NOT NULL,
	partitions  integer,
	created_at  timestamptz NOT NULL DEFAULT now(),
	prepared_at timestamptz,
	started     text,
	retired_at  timestamptz,
	PRIMARY KEY (projection, version)
);
CREATE TABLE IF NOT EXISTS `+t.checkpoints+` (
	projection  text NOT NULL,
	version     integer NOT NULL,
	partition   integer NOT NULL,
	kind        smallint NOT NULL,
	commit_pos  numeric(20,0) NOT NULL,
	prepare_pos numeric(20,0) NOT NULL,
	revision    numeric(20,0) NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (projection, version, partition)
)`)
		if err != nil {
			return fmt.Errorf("postgres: create control tables: %w", err)
		}
		return nil
	})
}

// Schema returns the schema that holds the live version of projection's
// read model: readers query "<schema>.<table>". It is a name, not a check
// that a live version exists (see Live).
func (t *Target) Schema(projection string) string { return t.baseSchema(projection) }

// VersionSchema returns the schema in which a version of projection is
// built while it is not live.
func (t *Target) VersionSchema(projection string, version int) string {
	return fmt.Sprintf("%s_v%d", t.baseSchema(projection), version)
}

// maxBase leaves room for "_v<version>_retired" within PostgreSQL's 63
// bytes.
const maxBase = 40

// baseSchema maps a projection name to a lowercase identifier: the prefix,
// then the name in lowercase with every character other than letters,
// digits and '_' replaced by '_'. Names too long for PostgreSQL keep a
// hash of the whole name.
func (t *Target) baseSchema(name string) string {
	var b strings.Builder
	b.WriteString(t.prefix)
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "p_" + s
	}
	if len(s) > maxBase {
		h := fnv.New32a()
		h.Write([]byte(name))
		s = fmt.Sprintf("%s_%08x", s[:maxBase-9], h.Sum32())
	}
	return s
}

func quote(ident string) string { return pgx.Identifier{ident}.Sanitize() }

// rollback ends a transaction that failed; its own error is of no use
// beside the one that caused it.
func rollback(tx pgx.Tx) { _ = tx.Rollback(context.WithoutCancel(context.Background())) }

// ctxErr prefers the context's error, so that callers can match
// context.Canceled whatever the driver wrapped it in.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}
