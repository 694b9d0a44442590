package blobstorage

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// fileDir returns the folder a file:// URL names: file:///abs/path, or
// file://./rel/path as gocloud reads it. Any other host is refused: gocloud
// would ignore it and keep the backups in the current folder, which is
// not where the URL says they are (file://backups means the host
// "backups", not the folder).
func fileDir(u *url.URL) (string, error) {
	switch {
	case u.Host == "." && u.Path != "" && u.Path != "/":
		return filepath.FromSlash(strings.TrimPrefix(u.Path, "/")), nil
	case (u.Host == "" || u.Host == "localhost") && u.Path != "" && u.Path != "/":
		return filepath.FromSlash(u.Path), nil
	case u.Host != "" && u.Host != "." && u.Host != "localhost":
		return "", fmt.Errorf("blobstorage: %s names the host %q, not a folder: write file:///absolute/path or file://./relative/path", u.Redacted(), u.Host)
	}
	return "", fmt.Errorf("blobstorage: %s names no folder: write file:///absolute/path or file://./relative/path", u.Redacted())
}
