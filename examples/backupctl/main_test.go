package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func TestBackupctl(t *testing.T) {
	work, backups := t.TempDir(), t.TempDir()
	store := filepath.Join(work, "kv_store_full_docs.json")
	os.WriteFile(store, []byte(`{"doc": "original"}`), 0o644)
	flags := []string{"-dir", backups, "-json", work}

	out, err := ctl(t, append(flags, "create")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]

	if out, err = ctl(t, append(flags, "list")...); err != nil || !strings.Contains(out, id) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = ctl(t, append(flags, "inspect", id)...)
	var man struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &man) != nil || man.ID != id {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	if out, err = ctl(t, append(flags, "verify", id)...); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	os.WriteFile(store, []byte(`{}`), 0o644)
	if _, err = ctl(t, append(flags, "restore", id)...); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(store); string(data) != `{"doc": "original"}` {
		t.Fatalf("after restore: %s", data)
	}
	// import into another folder, then delete.
	other := t.TempDir()
	if out, err = ctl(t, "-dir", other, "import", filepath.Join(backups, id+".ngbak")); err != nil || strings.TrimSpace(out) != id {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if _, err = ctl(t, "-dir", other, "delete", id); err != nil {
		t.Fatal(err)
	}
	// Failures are errors.
	for _, args := range [][]string{{"verify", "../x"}, {"inspect", id + "x"}, {"bogus"}, {}, {"verify"}} {
		if _, err := ctl(t, append([]string{"-dir", other}, args...)...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
}
