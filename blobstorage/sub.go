package blobstorage

import (
	"fmt"
	"strings"

	"github.com/ngbak/ngbak"
)

// Sub returns a Storage over the keys under name + "/", which List does not
// show: the deduplicating layout (ngbak.Options.Dedup) keeps its chunks
// there, so that listing the backups never lists the chunks.
func (s *Storage) Sub(name string) (ngbak.Storage, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("blobstorage: invalid namespace %q", name)
	}
	if s.dir != nil {
		sub, ok := s.dir.(interface {
			Sub(string) (ngbak.Storage, error)
		})
		if !ok {
			return nil, fmt.Errorf("blobstorage: the folder has no namespaces")
		}
		return sub.Sub(name)
	}
	// Not blob.PrefixedBucket: it closes the bucket it is given.
	return &Storage{b: s.b, opts: s.opts, prefix: s.prefix + name + "/"}, nil
}
