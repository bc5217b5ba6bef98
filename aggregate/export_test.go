package aggregate

// WithDecoding sets when and how loads decode in parallel, for tests:
// after events applied one by one first (0: never in parallel), batch
// events per batch, workers decoding goroutines (0: as by default).
func WithDecoding(after, batch, workers int) Option {
	return func(o *options) error {
		o.decoding = decoding{after: after, batch: batch, workers: workers}
		return nil
	}
}

// Pipelines returns how many loads have decoded in parallel so far.
func Pipelines() int64 { return pipelines.Load() }
