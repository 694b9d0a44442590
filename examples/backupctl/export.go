package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ngbak/ngbak"
)

// export copies a backup's archive, as stored, to name or to stdout ("-"),
// checking it against its .sha256 sidecar on the way. A deduplicated
// backup's archive is made as it is read and checks itself (its Read fails
// with ngbak.ErrChecksum before the end): its sidecar is its chunk list's.
// A file appears only complete and checked, and never replaces one that
// exists; on stdout a mismatch can only fail the command at the end.
func export(ctx context.Context, m *ngbak.Manager, store ngbak.Storage, id, name string, stdout io.Writer, progress func(ngbak.Event)) error {
	b, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	want, err := sidecarSum(ctx, store, id)
	if err != nil {
		return err
	}
	rc, err := m.Open(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	made := false // as it is read, by a deduplicated storage
	if u, ok := rc.(interface{ SizeUnknown() bool }); ok && u.SizeUnknown() {
		made = true
	}
	copyChecked := func(w io.Writer) error {
		h := sha256.New()
		pw := &progressWriter{fn: progress, e: ngbak.Event{Op: "export", ID: id, Phase: "export", Total: b.Size}}
		if made {
			pw.e.Total = 0 // Backup.Size is the chunk list's
		}
		if _, err := io.Copy(io.MultiWriter(w, h, pw), rc); err != nil {
			return fmt.Errorf("export %s: %w", id, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); !made && got != want {
			return fmt.Errorf("export %s: %w: the archive's sha256 is %s, its sidecar says %s", id, ngbak.ErrChecksum, got, want)
		}
		return nil
	}
	if name == "-" {
		return copyChecked(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".backupctl-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = copyChecked(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), name); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("export %s: %s exists; nothing was written", id, name)
		}
		return fmt.Errorf("export %s: %w", id, err)
	}
	return nil
}

// sidecarSum reads the archive's hash from <id>.ngbak.sha256, which holds
// "hash  <id>.ngbak" as sha256sum writes it.
func sidecarSum(ctx context.Context, store ngbak.Storage, id string) (string, error) {
	if !ngbak.ValidID(id) {
		return "", fmt.Errorf("%w: %q", ngbak.ErrInvalidID, id)
	}
	rc, err := store.Open(ctx, id+".ngbak.sha256")
	if err != nil {
		return "", fmt.Errorf("export %s: %w", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("export %s: reading its .sha256: %w", id, err)
	}
	sum, _, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	if len(sum) != 64 {
		return "", fmt.Errorf("export %s: %w: its .sha256 holds %q", id, ngbak.ErrCorrupt, data)
	}
	return strings.ToLower(sum), nil
}

// progressWriter reports the bytes written through it every MiB.
type progressWriter struct {
	fn   func(ngbak.Event)
	e    ngbak.Event
	next int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.e.Bytes += int64(len(b))
	if p.e.Bytes >= p.next || p.e.Bytes == p.e.Total {
		p.fn(p.e)
		p.next = p.e.Bytes + 1<<20
	}
	return len(b), nil
}
