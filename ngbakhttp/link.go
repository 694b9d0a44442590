package ngbakhttp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// linkLifetime is how long a download link stays good: the browser
// follows it at once.
const linkLifetime = time.Minute

// links signs and spends single-use download links: an HMAC-SHA256 over
// the backup id, the expiry and a random nonce, under a key the handler
// draws at start. A link is good once, before its expiry, on the handler
// that made it (behind a load balancer, send the link request and the
// download to the same instance); that lets a browser save a download
// straight to disk, as it cannot with a request that carries an
// Authorization header, without putting the API token in a URL.
type links struct {
	key []byte

	mu    sync.Mutex
	spent map[string]time.Time // signature → expiry
}

func newLinks() *links {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	return &links{key: key, spent: map[string]time.Time{}}
}

func (l *links) sign(id string, expires int64, nonce string) string {
	mac := hmac.New(sha256.New, l.key)
	mac.Write([]byte(id + "\n" + strconv.FormatInt(expires, 10) + "\n" + nonce))
	return hex.EncodeToString(mac.Sum(nil))
}

// make returns the query of a new link to id's archive.
func (l *links) make(id string, now time.Time) (url.Values, time.Time) {
	b := make([]byte, 16)
	rand.Read(b)
	nonce := hex.EncodeToString(b)
	exp := now.Add(linkLifetime)
	q := url.Values{"expires": {strconv.FormatInt(exp.Unix(), 10)}, "nonce": {nonce}}
	q.Set("sig", l.sign(id, exp.Unix(), nonce))
	return q, exp
}

// spend checks a link's query for id and marks it used; false if it is
// forged, expired or spent.
func (l *links) spend(id string, q url.Values, now time.Time) bool {
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil || now.Unix() > exp {
		return false
	}
	sig := q.Get("sig")
	if !hmac.Equal([]byte(sig), []byte(l.sign(id, exp, q.Get("nonce")))) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for s, e := range l.spent {
		if now.Unix() > e.Unix() {
			delete(l.spent, s)
		}
	}
	if _, used := l.spent[sig]; used {
		return false
	}
	l.spent[sig] = time.Unix(exp, 0)
	return true
}

// link is POST /api/backups/{id}/link: a single-use URL, relative to the
// handler, that downloads the archive without credentials for a minute.
func (h *Handler) link(w http.ResponseWriter, r *http.Request) error {
	b, err := h.backup(r)
	if err != nil {
		return err
	}
	id := b.Manifest.ID
	q, exp := h.links.make(id, time.Now())
	writeJSON(w, http.StatusCreated, map[string]any{
		"url":        "api/download/" + url.PathEscape(id) + "?" + q.Encode(),
		"expires_at": exp.UTC(),
	})
	return nil
}

// signedDownload is GET /api/download/{id}?expires=&nonce=&sig=: the
// archive for a link from POST /api/backups/{id}/link, once. The link is
// the authorization; Options.Authorize authorized its making.
func (h *Handler) signedDownload(w http.ResponseWriter, r *http.Request) {
	id, err := backupID(r)
	if err != nil {
		writeError(w, toAPIError(err))
		return
	}
	if !h.links.spend(id, r.URL.Query(), time.Now()) {
		writeError(w, apiError{http.StatusForbidden, "forbidden", "the download link is not valid: forged, expired or used already (ask for another)"})
		return
	}
	if err := h.download(w, r); err != nil {
		writeError(w, toAPIError(err))
	}
}
