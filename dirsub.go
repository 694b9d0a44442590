package ngbak

import (
	"fmt"
	"path/filepath"
)

// Sub returns a Dir in the subfolder name, which Dir's List does not show:
// the deduplicating layout keeps its chunks there.
func (d dirStorage) Sub(name string) (Storage, error) {
	if _, err := d.path(name); err != nil {
		return nil, fmt.Errorf("ngbak: invalid namespace %q", name)
	}
	return dirStorage{dir: filepath.Join(d.dir, name)}, nil
}

// chunkFolder is a Storage that can leave the folder's sync, and the
// removal of partial files crashes left, to its user (a Dir): Dir's
// Create looks for those in the whole folder each time, which for a
// folder of chunks would cost a listing of the repository per chunk. The
// deduplicating layout asks for that (deferSync) only where it sees a Dir
// itself; through a wrapper it gets Dir's own commits, synced each.
type chunkFolder interface {
	// deferSync returns the folder whose commits sync each object's data
	// before it gets its name, as Dir's do, but leave the folder's sync to
	// syncFolder: a chunk is then either whole under its name or absent
	// after a crash, and the layout syncs the folder once before it
	// commits the chunk list that relies on it. Its Create leaves old
	// partial files to removeStalePartials, which the layout calls once
	// per backup.
	deferSync() Storage
	syncFolder() error
	removeStalePartials()
}

func (d dirStorage) deferSync() Storage { return dirStorage{dir: d.dir, lazySync: true} }

func (d dirStorage) syncFolder() error {
	if err := syncDir(d.dir); err != nil {
		return fmt.Errorf("ngbak: syncing %s: %w", d.dir, err)
	}
	return nil
}
