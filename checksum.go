package ngbak

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// sumsName is the archive entry, just before the manifest, that lists every
// file's SHA-256 in the format of sha256sum, so that tools outside Go can
// check an extracted archive with `sha256sum -c SHA256SUMS`.
const sumsName = "SHA256SUMS"

// manifestName is the archive's last entry.
const manifestName = "manifest.json"

// sha256Sums returns the canonical SHA256SUMS text for files: one line
// "<hex>  <path>\n" per file, sorted by path. Paths never hold a newline or
// a backslash (checkPath), so each line is unambiguous and sha256sum reads
// it without escaping.
func sha256Sums(files []File) []byte {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b bytes.Buffer
	for _, f := range sorted {
		b.WriteString(f.SHA256)
		b.WriteString("  ")
		b.WriteString(f.Path)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// payloadSHA256 is the digest recorded in the manifest: the SHA-256 of the
// canonical SHA256SUMS text.
func payloadSHA256(files []File) string {
	s := sha256.Sum256(sha256Sums(files))
	return hex.EncodeToString(s[:])
}

// sidecarSum returns the content of <id>.ngbak.sha256, which
// `sha256sum -c` checks in the folder that holds the archive.
func sidecarSum(id, sum string) []byte {
	return []byte(sum + "  " + archiveName(id) + "\n")
}

// parseSidecarSum reads <id>.ngbak.sha256 and returns the archive's digest.
func parseSidecarSum(id string, data []byte) (string, error) {
	line := strings.TrimSuffix(string(data), "\n")
	sum, name, ok := strings.Cut(line, "  ")
	if !ok || strings.Contains(line, "\n") || !isHexSHA256(sum) || name != archiveName(id) {
		return "", fmt.Errorf("%w: %s is not a sha256sum line for %s", ErrCorrupt, sumName(id), archiveName(id))
	}
	return sum, nil
}

func archiveName(id string) string  { return id + ".ngbak" }
func sumName(id string) string      { return id + ".ngbak.sha256" }
func manifestFile(id string) string { return id + ".manifest.json" }
