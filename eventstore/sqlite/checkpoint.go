package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// tailFrames is how many frames may remain for the commit loop to copy when
// the checkpointer hands it the end of a checkpoint.
const tailFrames = 64

// checkpointer copies the write-ahead log into the database file on its own
// connection, so that commits do not carry checkpoint work. The commit loop
// kicks it when the log has grown by WithCheckpointPages pages; it runs
// PASSIVE checkpoints, which never block the writer or readers, until at
// most tailFrames frames (those committed meanwhile) are left.
//
// SQLite restarts the log from its beginning only when a write transaction
// starts with every frame copied, which a checkpoint running beside a busy
// writer never sees: the log would grow for as long as writes go on. So the
// checkpointer then asks the commit loop to copy the short tail itself,
// between two commits (tail()); the next commit restarts the log and
// overwrites the file's blocks instead of growing it.
type checkpointer struct {
	conn     *sql.Conn
	tail     func()          // asks the commit loop to finish the checkpoint
	failed   func(err error) // reports a failed checkpoint to the store
	kicks    chan struct{}
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu   sync.Mutex
	runs int   // checkpoints run
	err  error // the last one's error
}

func startCheckpointer(conn *sql.Conn, tail func(), failed func(error)) *checkpointer {
	c := &checkpointer{conn: conn, tail: tail, failed: failed, kicks: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// kick asks for a checkpoint; it never blocks.
func (c *checkpointer) kick() {
	select {
	case c.kicks <- struct{}{}:
	default: // one is pending already
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case <-c.kicks:
			err := c.checkpoint()
			c.mu.Lock()
			c.runs++
			c.err = err
			c.mu.Unlock()
			if err != nil {
				c.failed(err)
			}
		}
	}
}

// checkpoint runs PASSIVE checkpoints until the tail is short, then hands it
// to the commit loop.
func (c *checkpointer) checkpoint() error {
	for range 4 {
		var busy, log, done int64
		err := c.conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done)
		if err != nil {
			return err
		}
		if log-done <= tailFrames {
			if log > 0 {
				c.tail()
			}
			return nil
		}
	}
	return nil
}

// stop ends the loop, waits for it and closes the connection; idempotent.
func (c *checkpointer) stop() {
	c.stopOnce.Do(func() {
		close(c.quit)
		<-c.done
		c.conn.Close()
	})
}

// stats reports how many checkpoints ran and the last one's error.
func (c *checkpointer) stats() (runs int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs, c.err
}
