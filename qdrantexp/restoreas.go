package qdrantexp

import (
	"fmt"
	"slices"
)

// checkRestoreAs: a renamed restore stays in its scope. Without
// Options.Collections, a restore deletes every collection the backup does
// not hold, the source collections of a clone among them.
func checkRestoreAs(opts Options) error {
	if len(opts.RestoreAs) == 0 {
		return nil
	}
	if opts.Collections == nil {
		return fmt.Errorf("qdrantexp: Options.RestoreAs needs Options.Collections, the collections restored into, so that a restore deletes no other")
	}
	seen := map[string]string{}
	for from, to := range opts.RestoreAs {
		if err := checkName(to); err != nil {
			return err
		}
		if !slices.Contains(opts.Collections, to) {
			return fmt.Errorf("qdrantexp: Options.RestoreAs restores %q as %q, which is not in Options.Collections", from, to)
		}
		if prev, ok := seen[to]; ok {
			return fmt.Errorf("qdrantexp: Options.RestoreAs restores both %q and %q as %q", prev, from, to)
		}
		seen[to] = from
	}
	return nil
}

// restoreAs is the record of collection rec as it is restored: under its
// new name, and without its aliases, which name the source collection for
// its application (a restore would move them onto the copy).
func (e *Exporter) restoreAs(rec collectionRecord) collectionRecord {
	if to, ok := e.opts.RestoreAs[rec.Name]; ok {
		rec.Name, rec.Aliases = to, nil
	}
	return rec
}
