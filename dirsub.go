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
	return Dir(filepath.Join(d.dir, name)), nil
}
