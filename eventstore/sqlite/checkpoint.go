package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// checkpointer copies the write-ahead log into the database file on its own
// connection, so that commits never carry checkpoint work. The commit loop
// kicks it when the log has grown by WithCheckpointPages pages; it runs a
// PASSIVE checkpoint, which never blocks the writer or readers.
type checkpointer struct {
	conn     *sql.Conn
	kicks    chan struct{}
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu   sync.Mutex
	runs int   // checkpoints run
	err  error // the last one's error
}

func startCheckpointer(conn *sql.Conn) *checkpointer {
	c := &checkpointer{conn: conn, kicks: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
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
			_, err := c.conn.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
			c.mu.Lock()
			c.runs++
			c.err = err
			c.mu.Unlock()
		}
	}
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
