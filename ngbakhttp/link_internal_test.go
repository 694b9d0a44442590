package ngbakhttp

import (
	"testing"
	"time"
)

// A link is good until its expiry and not after, and spent links are
// forgotten once they have expired, so the record stays small.
func TestLinkExpiry(t *testing.T) {
	l := newLinks()
	now := time.Unix(1_800_000_000, 0)
	q, exp := l.make("20260101T000000.000Z-000000", now)
	if l.spend("20260101T000000.000Z-000000", q, exp.Add(time.Second)) {
		t.Fatal("an expired link was accepted")
	}
	if !l.spend("20260101T000000.000Z-000000", q, exp) {
		t.Fatal("a link at its expiry was refused")
	}
	later := now.Add(2 * linkLifetime)
	q2, _ := l.make("20260101T000000.000Z-000000", later)
	if !l.spend("20260101T000000.000Z-000000", q2, later) {
		t.Fatal("a fresh link was refused")
	}
	if len(l.spent) != 1 {
		t.Fatalf("%d spent links kept; the expired one should be forgotten", len(l.spent))
	}
}
