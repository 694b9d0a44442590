package neo4jexp

import (
	"encoding/json"

	"github.com/ngbak/ngbak"
)

// Label is the label of the exporter's scope (Options.Label); empty for
// the whole database. A converter writing another kind of graph into this
// store puts its nodes under it.
func (e *Exporter) Label() string { return e.opts.Label }

// details is what Export records in the manifest (ngbak.Info.Details).
type details struct {
	// Label is the scope's label; empty for the whole database.
	Label string `json:"label,omitempty"`
}

// BackupLabel returns the label of the scope a backup of this format was
// taken of, and whether the backup records it: a backup of the whole
// database records none, and neither do backups taken before it was
// recorded.
func BackupLabel(b *ngbak.Backend) (string, bool) {
	var d details
	if len(b.Details) == 0 || json.Unmarshal(b.Details, &d) != nil || d.Label == "" {
		return "", false
	}
	return d.Label, true
}
