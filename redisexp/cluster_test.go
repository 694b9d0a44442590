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
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// clusterAdmin moves slots between the masters of the test cluster, as
// redis-cli --cluster reshard does, through a plain client per master. Its
// moves run inside a go-redis hook, off the test's goroutine, so its
// failures are Errorf and end the move, never FailNow.
type clusterAdmin struct {
	t       *testing.T
	masters map[string]*redis.Client // node id -> client
	failed  atomic.Bool
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

func (a *clusterAdmin) do(c *redis.Client, args ...any) bool {
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		a.t.Errorf("%s: %v: %v", c.Options().Addr, args, err)
		a.failed.Store(true)
		return false
	}
	return true
}

// owner returns the id of the master that says it serves slot itself, or
// "".
func (a *clusterAdmin) owner(slot int) string {
	ctx := context.Background()
	for id, c := range a.masters {
		shards, err := c.ClusterShards(ctx).Result()
		if err != nil {
			a.t.Errorf("CLUSTER SHARDS: %v", err)
			return ""
		}
		for _, sh := range shards {
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
	return ""
}

// settle waits until every master sees every master's config epoch and
// slots as that master sees its own. A slot moved back right after a move,
// before the first move's epoch has reached the node taking it back, can
// be lost to a stale claim: that node does not bump its epoch above one it
// has not heard of yet, and then yields to the old owner's gossip.
func (a *clusterAdmin) settle() {
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		views := map[string]map[string]string{} // viewer -> node -> "epoch slots"
		for id, c := range a.masters {
			out, err := c.ClusterNodes(ctx).Result()
			if err != nil {
				a.t.Errorf("CLUSTER NODES: %v", err)
				return
			}
			views[id] = map[string]string{}
			for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) >= 8 {
					views[id][f[0]] = f[6] + " " + strings.Join(f[8:], " ")
				}
			}
		}
		agree := true
		for viewer := range views {
			for node := range a.masters {
				agree = agree && views[viewer][node] == views[node][node]
			}
		}
		if agree {
			return
		}
	}
	a.t.Errorf("the cluster's masters did not agree on its configuration within 10s")
	a.failed.Store(true)
}

// layout is each master's own slots, as its CLUSTER NODES line says.
func (a *clusterAdmin) layout() map[string]string {
	out := map[string]string{}
	for id, c := range a.masters {
		nodes, err := c.ClusterNodes(context.Background()).Result()
		if err != nil {
			a.t.Errorf("CLUSTER NODES: %v", err)
		}
		for line := range strings.SplitSeq(nodes, "\n") {
			if f := strings.Fields(line); len(f) >= 8 && strings.Contains(f[2], "myself") {
				out[id] = strings.Join(f[8:], " ")
			}
		}
	}
	return out
}

// startMove marks slot as migrating from one master to another.
func (a *clusterAdmin) startMove(slot int, from, to string) bool {
	return a.do(a.masters[to], "CLUSTER", "SETSLOT", slot, "IMPORTING", from) &&
		a.do(a.masters[from], "CLUSTER", "SETSLOT", slot, "MIGRATING", to)
}

// move moves slot and its keys from one master to another.
func (a *clusterAdmin) move(slot int, from, to string) {
	ctx := context.Background()
	if !a.startMove(slot, from, to) {
		return
	}
	src, dst := a.masters[from], a.masters[to]
	host, port, _ := net.SplitHostPort(dst.Options().Addr)
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		if err != nil {
			a.t.Errorf("CLUSTER GETKEYSINSLOT: %v", err)
			a.failed.Store(true)
			return
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if !a.do(src, args...) {
			return
		}
	}
	a.assign(slot, to)
}

// assign gives slot to a master: itself first, then the others.
func (a *clusterAdmin) assign(slot int, to string) {
	if !a.do(a.masters[to], "CLUSTER", "SETSLOT", slot, "NODE", to) {
		return
	}
	for id, c := range a.masters {
		if id != to && !a.do(c, "CLUSTER", "SETSLOT", slot, "NODE", to) {
			return
		}
	}
	a.settle()
}

// restore puts slot back with its original master, stable, whatever a
// test left it as.
func (a *clusterAdmin) restore(slot int, owner string) {
	for _, c := range a.masters {
		a.do(c, "CLUSTER", "SETSLOT", slot, "STABLE")
	}
	a.settle()
	switch now := a.owner(slot); now {
	case owner:
	case "":
		a.assign(slot, owner)
	default:
		a.move(slot, now, owner)
	}
	if now := a.owner(slot); now != owner {
		a.t.Errorf("slot %d is with %q, not %s", slot, now, owner)
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
	layout := admin.layout()
	t.Cleanup(func() {
		if diff := cmp.Diff(layout, admin.layout()); diff != "" {
			t.Errorf("the cluster's slots at the end (-start +end):\n%s", diff)
		}
	})
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
		{"migrating", func() { admin.startMove(slot, src, dst) }, nil, "is moving a slot ([" + fmt.Sprint(slot) + "-"}, // ->- on src, -<- on dst
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
				if admin.failed.Load() {
					t.Fatal("moving the slot failed")
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
