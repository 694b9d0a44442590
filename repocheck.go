package ngbak

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// CheckOptions configure CheckRepository.
type CheckOptions struct {
	// ReadData reads every chunk a backup uses and checks its hash (and
	// seal); without it only that each one is stored.
	ReadData bool
	// RemoveUnused removes the chunks no backup uses, unless a backup is
	// being written, in this process or another (RepositoryCheck.Skipped).
	RemoveUnused bool
}

// RepositoryCheck is what CheckRepository found.
type RepositoryCheck struct {
	Lists   int // chunk lists read, one per backup (listed or orphaned)
	Chunks  int // distinct chunks they use
	Stored  int // chunk objects in the storage
	Missing []string
	Damaged []string // with ReadData: chunks that do not open or hash right
	Unused  []string // chunks no list uses
	Removed int      // of Unused, with RemoveUnused
	Skipped string   // why RemoveUnused removed nothing, if it did not
}

// CheckRepository checks a deduplicated storage as restic check does:
// every chunk a backup uses is stored (and, with ReadData, opens and
// hashes to its name), and the chunks no backup uses are reported and,
// with RemoveUnused, removed. A chunk missing or damaged is an error
// wrapping ErrCorrupt, with the report. It holds one entry per distinct
// chunk in memory (about 100 bytes each: 100 MB for a repository of a
// million chunks, 512 GiB at the default size), and lists the chunks once.
func (m *Manager) CheckRepository(ctx context.Context, opts CheckOptions) (*RepositoryCheck, error) {
	d, ok := m.store.(*dedupStorage)
	if !ok {
		return nil, errors.New("ngbak: check: the storage is not deduplicated (Options.Dedup)")
	}
	rep, err := d.check(ctx, opts)
	if err != nil {
		return rep, fmt.Errorf("ngbak: check: %w", err)
	}
	return rep, nil
}

func (d *dedupStorage) check(ctx context.Context, opts CheckOptions) (*RepositoryCheck, error) {
	rep := &RepositoryCheck{}
	objs, err := d.inner.List(ctx)
	if err != nil {
		return nil, err
	}
	// Chunks are listed after the lists: a Create that commits in between
	// adds chunks that show as unused, never a chunk that shows as missing.
	refs := map[[32]byte]chunkRef{}
	var key *dedupKey
	for _, o := range objs {
		if _, ok := isArchive(o.Name); !ok {
			continue
		}
		err := d.eachRef(ctx, o.Name, func(c chunkRef) error {
			refs[c.ID] = c
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		rep.Lists++
	}
	rep.Chunks = len(refs)
	cs, _, err := d.layout(ctx)
	if err != nil {
		return nil, err
	}
	chunks, err := cs.List(ctx)
	if err != nil {
		return nil, err
	}
	stored := map[[32]byte]bool{}
	unused := map[[32]byte]struct{}{}
	for _, o := range chunks {
		h, ok := strings.CutPrefix(o.Name, chunkPrefix)
		var id [32]byte
		if !ok || len(h) != 64 || !lowerHex([]byte(h)) {
			continue // not ngbak's
		}
		hex.Decode(id[:], []byte(h))
		rep.Stored++
		stored[id] = true
		if _, ok := refs[id]; !ok {
			unused[id] = struct{}{}
			rep.Unused = append(rep.Unused, o.Name)
		}
	}
	for id, c := range refs {
		if !stored[id] {
			rep.Missing = append(rep.Missing, c.name())
			continue
		}
		if !opts.ReadData {
			continue
		}
		var k *dedupKey
		if c.Sealed {
			if key == nil {
				if d.enc == nil {
					return rep, fmt.Errorf("%w: chunks are encrypted; set Options.Encryption with its key", ErrKey)
				}
				if key, err = d.loadKey(ctx, false); err != nil {
					return rep, err
				}
			}
			k = key
		}
		data, err := d.readChunk(ctx, k, c)
		if err == nil {
			putBuf(data)
		} else {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			rep.Damaged = append(rep.Damaged, fmt.Sprintf("%s: %v", c.name(), err))
		}
	}
	sort.Strings(rep.Missing)
	sort.Strings(rep.Damaged)
	sort.Strings(rep.Unused)
	if opts.RemoveUnused {
		if rep.Removed, rep.Skipped, err = d.sweep(ctx, unused); err != nil {
			return rep, err
		}
	}
	if len(rep.Missing) > 0 || len(rep.Damaged) > 0 {
		return rep, fmt.Errorf("%w: %d chunks missing, %d damaged (first: %s)", ErrCorrupt, len(rep.Missing), len(rep.Damaged), first(rep.Missing, rep.Damaged))
	}
	return rep, nil
}

func first(lists ...[]string) string {
	for _, l := range lists {
		if len(l) > 0 {
			return l[0]
		}
	}
	return ""
}
