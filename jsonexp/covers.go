package jsonexp

// Covers says whether a file of the working directory by this name is in
// the exporter's scope: backed up, and removed by a restore of a backup
// that does not hold it. A converter restoring only some of the stores
// (the KV files, say) checks with it that nothing else would be removed.
func (e *Exporter) Covers(name string) bool { return e.matches(name) }
