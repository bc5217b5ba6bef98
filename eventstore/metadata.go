package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// StreamMetadata is a stream's metadata, kept as MetadataEventType events in
// the stream $$<stream> as in EventStoreDB. Reads and subscriptions of the
// stream honour MaxAge, MaxCount and TruncateBefore; $all ignores them.
type StreamMetadata struct {
	// MaxAge hides events older than this ($maxAge, whole seconds); 0 means
	// no limit.
	MaxAge time.Duration
	// MaxCount keeps only the last MaxCount events visible ($maxCount);
	// 0 means no limit.
	MaxCount uint64
	// TruncateBefore hides events with a lower revision ($tb); 0 means none.
	// Soft delete sets it to TombstoneRevision.
	TruncateBefore uint64
	// CacheControl is an HTTP caching hint ($cacheControl, whole seconds);
	// stored, never applied.
	CacheControl time.Duration
	// ACL is the access control list ($acl), kept verbatim; stores that do not
	// authorize (embedded ones) keep it but do not apply it.
	ACL json.RawMessage
	// Custom holds every other key, verbatim.
	Custom map[string]json.RawMessage
}

// Reserved metadata keys.
const (
	metaMaxAge       = "$maxAge"
	metaMaxCount     = "$maxCount"
	metaTB           = "$tb"
	metaCacheControl = "$cacheControl"
	metaACL          = "$acl"
)

// IsDeleted reports whether the metadata marks a soft-deleted stream.
func (m *StreamMetadata) IsDeleted() bool { return m.TruncateBefore >= TombstoneRevision }

// FirstVisible returns the lowest revision that TruncateBefore and MaxCount
// leave visible in a stream whose last revision is last.
func (m *StreamMetadata) FirstVisible(last uint64) uint64 {
	first := m.TruncateBefore
	if m.MaxCount > 0 && last+1 > m.MaxCount {
		if c := last + 1 - m.MaxCount; c > first {
			first = c
		}
	}
	return first
}

// Visible reports whether the event at rev, created at created, is visible in
// a stream whose last revision is last, at time now.
func (m *StreamMetadata) Visible(rev, last uint64, created, now time.Time) bool {
	if rev < m.FirstVisible(last) {
		return false
	}
	return m.MaxAge <= 0 || now.Sub(created) <= m.MaxAge
}

// MarshalJSON encodes the metadata as EventStoreDB does: a JSON object with
// the reserved $-keys (only those set) and the custom keys.
func (m StreamMetadata) MarshalJSON() ([]byte, error) {
	obj := make(map[string]json.RawMessage, len(m.Custom)+5)
	for k, v := range m.Custom {
		obj[k] = v
	}
	num := func(k string, v uint64) { obj[k] = json.RawMessage(fmt.Sprint(v)) }
	if m.MaxAge > 0 {
		num(metaMaxAge, uint64(m.MaxAge/time.Second))
	}
	if m.MaxCount > 0 {
		num(metaMaxCount, m.MaxCount)
	}
	if m.TruncateBefore > 0 {
		num(metaTB, m.TruncateBefore)
	}
	if m.CacheControl > 0 {
		num(metaCacheControl, uint64(m.CacheControl/time.Second))
	}
	if len(m.ACL) > 0 {
		obj[metaACL] = m.ACL
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(obj[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON decodes EventStoreDB stream metadata. Reserved keys must hold
// non-negative integers (JSON numbers such as 1e3 are accepted when whole);
// an empty document is empty metadata.
func (m *StreamMetadata) UnmarshalJSON(data []byte) error {
	*m = StreamMetadata{}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
	}
	for k, v := range obj {
		var err error
		switch k {
		case metaMaxAge:
			var s uint64
			if s, err = wholeNumber(k, v); err == nil {
				if s > uint64(math.MaxInt64/int64(time.Second)) {
					err = fmt.Errorf("%w: %s is too large", ErrInvalidMetadata, k)
				}
				m.MaxAge = time.Duration(s) * time.Second
			}
		case metaMaxCount:
			m.MaxCount, err = wholeNumber(k, v)
		case metaTB:
			m.TruncateBefore, err = wholeNumber(k, v)
		case metaCacheControl:
			var s uint64
			if s, err = wholeNumber(k, v); err == nil {
				m.CacheControl = time.Duration(min(s, uint64(math.MaxInt64/int64(time.Second)))) * time.Second
			}
		case metaACL:
			m.ACL = append(json.RawMessage(nil), v...)
		default:
			if m.Custom == nil {
				m.Custom = make(map[string]json.RawMessage)
			}
			m.Custom[k] = append(json.RawMessage(nil), v...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func wholeNumber(key string, v json.RawMessage) (uint64, error) {
	var f json.Number
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, fmt.Errorf("%w: %s must be a number", ErrInvalidMetadata, key)
	}
	if u, err := f.Int64(); err == nil {
		if u < 0 {
			return 0, fmt.Errorf("%w: %s must not be negative", ErrInvalidMetadata, key)
		}
		return uint64(u), nil
	}
	x, err := f.Float64()
	if err != nil || x < 0 || x != math.Trunc(x) || x > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer", ErrInvalidMetadata, key)
	}
	return uint64(x), nil
}
