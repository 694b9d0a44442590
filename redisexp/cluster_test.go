package redisexp_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// clusterAdmin moves slots between the masters of the test cluster, as
// redis-cli --cluster reshard does, through a plain client per master.
type clusterAdmin struct {
	t       *testing.T
	masters map[string]*redis.Client // node id -> client
}

func newClusterAdmin(t *testing.T, addrs []string) *clusterAdmin {
	ctx := context.Background()
	a := &clusterAdmin{t: t, masters: map[string]*redis.Client{}}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			t.Fatal(err)
		}
		if role[0] != "master" {
			continue
		}
		id, err := c.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		a.masters[id] = c
	}
	if len(a.masters) < 2 {
		t.Fatalf("the cluster has %d masters; the test needs two", len(a.masters))
	}
	return a
}

func (a *clusterAdmin) do(c *redis.Client, args ...any) {
	a.t.Helper()
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		a.t.Fatalf("%s: %v: %v", c.Options().Addr, args, err)
	}
}

// owner returns the id of the master that says it serves slot.
func (a *clusterAdmin) owner(slot int) string {
	ctx := context.Background()
	for id, c := range a.masters {
		ranges, err := c.ClusterShards(ctx).Result()
		if err != nil {
			a.t.Fatal(err)
		}
		for _, sh := range ranges {
			for _, n := range sh.Nodes {
				if n.ID != id {
					continue
				}
				for _, r := range sh.Slots {
					if int(r.Start) <= slot && slot <= int(r.End) {
						return id
					}
				}
			}
		}
	}
	a.t.Fatalf("no master serves slot %d", slot)
	return ""
}

// startMove marks slot as migrating from one master to another.
func (a *clusterAdmin) startMove(slot int, from, to string) {
	a.do(a.masters[to], "CLUSTER", "SETSLOT", slot, "IMPORTING", from)
	a.do(a.masters[from], "CLUSTER", "SETSLOT", slot, "MIGRATING", to)
}

// move moves slot and its keys from one master to another.
func (a *clusterAdmin) move(slot int, from, to string) {
	ctx := context.Background()
	a.startMove(slot, from, to)
	src, dst := a.masters[from], a.masters[to]
	host, port, _ := net.SplitHostPort(dst.Options().Addr)
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		if err != nil {
			a.t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		a.do(src, args...)
	}
	a.do(dst, "CLUSTER", "SETSLOT", slot, "NODE", to)
	a.do(src, "CLUSTER", "SETSLOT", slot, "NODE", to)
	for id, c := range a.masters {
		if id != from && id != to {
			a.do(c, "CLUSTER", "SETSLOT", slot, "NODE", to)
		}
	}
}

// restore puts slot back with its original master, stable, whatever a
// test left it as.
func (a *clusterAdmin) restore(slot int, owner string) {
	for _, c := range a.masters {
		a.do(c, "CLUSTER", "SETSLOT", slot, "STABLE")
	}
	if now := a.owner(slot); now != owner {
		a.move(slot, now, owner)
	}
}

// TestClusterReshard: a resharding under a backup fails it rather than
// leave out the keys that moved, and a slot in the middle of a migration
// stops a backup before it starts. The test moves the slot of its keys
// between two masters of NGBAK_REDIS_CLUSTER during the SCAN (from a hook
// on the first SCAN), away and back during another, and leaves it
// migrating before a third; each time the slot is put back, and a backup
// and restore at the end must work and round-trip.
func TestClusterReshard(t *testing.T) {
	ctx := context.Background()
	plain := server(t, "NGBAK_REDIS_CLUSTER") // skips or fails without the cluster
	addrs := strings.Split(os.Getenv("NGBAK_REDIS_CLUSTER"), ",")
	admin := newClusterAdmin(t, addrs)
	var tag [4]byte
	rand.Read(tag[:])
	p := uniquePrefix()
	key := func(i int) string { return fmt.Sprintf("%sdocs:{%x}%d", p, tag, i) }
	slot64, err := plain.ClusterKeySlot(ctx, key(0)).Result()
	if err != nil {
		t.Fatal(err)
	}
	slot := int(slot64)
	src := admin.owner(slot)
	var dst string
	for id := range admin.masters {
		if id != src {
			dst = id
			break
		}
	}
	t.Cleanup(func() { admin.restore(slot, src) })
	t.Cleanup(func() { cleanup(plain, p) })
	for i := range 20 {
		plain.Set(ctx, key(i), fmt.Sprintf(`{"i":%d}`, i), 0)
	}
	plain.Set(ctx, p+"docs:elsewhere", `{}`, 0)
	before, err := readState(ctx, plain, p+"*")
	if err != nil {
		t.Fatal(err)
	}

	// The exporters' client calls onScan on its first SCAN once armed.
	var armed atomic.Bool
	var onScan func()
	hook := newCounter()
	hook.before = func(cmds []redis.Cmder) {
		if cmds[0].Name() == "scan" && armed.Swap(false) {
			onScan()
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	cc.OnNewNode(func(c *redis.Client) { c.AddHook(hook) })
	t.Cleanup(func() { cc.Close() })
	exporters := []ngbak.Exporter{
		must(redisexp.New(redisexp.NewKVStore(cc, redisexp.KVStoreOptions{Prefix: p}), redisexp.Options{})),
		redisexp.NewRaw(cc, redisexp.RawOptions{Pattern: p + "*"}),
	}
	for _, sc := range []struct {
		name   string
		setup  func()
		onScan func()
		want   string
	}{
		{"moved", nil, func() { admin.move(slot, src, dst) }, "resharded during the scan: slot " + fmt.Sprint(slot)},
		{"moved and back", nil, func() { admin.move(slot, src, dst); admin.move(slot, dst, src) }, "configuration changed during the scan"},
		{"migrating", func() { admin.startMove(slot, src, dst) }, nil, "is moving a slot ([" + fmt.Sprint(slot) + "->-" + dst + "])"},
	} {
		for _, exp := range exporters {
			t.Run(sc.name+"/"+exp.Name(), func(t *testing.T) {
				defer admin.restore(slot, src)
				if sc.setup != nil {
					sc.setup()
				}
				onScan = sc.onScan
				armed.Store(sc.onScan != nil)
				storage := t.TempDir()
				m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(storage)})
				m.Register(exp)
				_, err := m.Create(ctx, nil)
				t.Logf("Create: %v", err)
				if err == nil || !strings.Contains(err.Error(), sc.want) {
					t.Fatalf("Create: %v; want an error saying %q", err, sc.want)
				}
				if armed.Load() {
					t.Fatal("the hook never ran")
				}
				if entries, _ := os.ReadDir(storage); len(entries) != 0 {
					t.Fatalf("a failed Create left %d files", len(entries))
				}
			})
		}
	}

	// Back as it was, the cluster backs up and restores as before.
	for _, exp := range exporters {
		m := newManager(t, exp)
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain.Del(ctx, key(3))
		if _, err := m.Restore(ctx, man.ID, nil); err != nil {
			t.Fatal(err)
		}
		after, err := readState(ctx, plain, p+"*")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("%s: after restore (-want +got):\n%s", exp.Name(), diff)
		}
	}
	if got := admin.owner(slot); got != src {
		t.Fatalf("slot %d is with %s at the end, not %s", slot, got, src)
	}
}
