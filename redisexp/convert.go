package redisexp

import "io"

// ReadRecords reads one part file of a KV backup (KVFormat) to its end, for
// a conversion into another kind of store: fn gets each entry's id and
// value, and whether the entry had a time to live when it was backed up.
// The slices are valid only during the call.
func ReadRecords(r io.Reader, file string, fn func(id, value []byte, expires bool) error) error {
	return readRecords(r, file, func(l *line) error {
		return fn(l.id, l.value, l.ttlMillis > 0 || l.expiresAt > 0)
	})
}
