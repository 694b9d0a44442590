package redisexp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// slotMap is what the masters a scan reads say about themselves: the slots
// each serves and its config epoch. It comes from each master's own line of
// CLUSTER NODES ("myself"), which is where a node shows the slots it is
// migrating or importing: CLUSTER SHARDS and CLUSTER SLOTS do not, and
// another node's view of it may lag.
//
// A scan of every master is complete only if, from its start to its end,
// those masters serve every slot, one master each, none of them moving: a
// key MIGRATEd from a master not scanned yet to one already scanned would
// be missed without a word. So scanKeys refuses to start while a slot is
// migrating or importing or the slots do not add up to 16384, and fails if
// the map at the end differs from the one at the start. The config epochs
// are compared too: they grow when a master takes a slot over, so a slot
// moved away and back during the scan is caught as well.
type slotMap struct {
	owner  [clusterSlots]string // node id
	epochs map[string]uint64    // node id -> config epoch
	addrs  map[string]string    // node id -> address, for messages
}

func readSlotMap(ctx context.Context, nodes []redis.Cmdable) (*slotMap, error) {
	m := &slotMap{epochs: map[string]uint64{}, addrs: map[string]string{}}
	served := 0
	for _, node := range nodes {
		out, err := node.ClusterNodes(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("redisexp: CLUSTER NODES: %w", err)
		}
		n, err := m.addMyself(out)
		if err != nil {
			return nil, err
		}
		served += n
	}
	if served != clusterSlots {
		return nil, fmt.Errorf("redisexp: the cluster's %d masters the client knows serve %d of the %d slots: the client's view of the cluster is out of date or the cluster is not whole; try again", len(nodes), served, clusterSlots)
	}
	return m, nil
}

// addMyself adds the slots of the node whose CLUSTER NODES output out is,
// and returns how many it serves.
func (m *slotMap) addMyself(out string) (int, error) {
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !slices.Contains(strings.Split(f[2], ","), "myself") {
			continue
		}
		id, addr := f[0], f[1]
		if i := strings.IndexAny(addr, "@,"); i >= 0 {
			addr = addr[:i]
		}
		if !slices.Contains(strings.Split(f[2], ","), "master") {
			return 0, fmt.Errorf("redisexp: cluster node %s is %s, not a master: the client's view of the cluster is out of date; try again", addr, f[2])
		}
		epoch, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redisexp: CLUSTER NODES of %s: config epoch %q: %w", addr, f[6], err)
		}
		m.epochs[id], m.addrs[id] = epoch, addr
		n := 0
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				// [slot->-id] migrating, [slot-<-id] importing.
				return 0, fmt.Errorf("redisexp: cluster node %s is moving a slot (%s): a scan during a resharding could miss the keys that move; try again when it is over", addr, r)
			}
			lo, hi, err := slotRange(r)
			if err != nil {
				return 0, fmt.Errorf("redisexp: CLUSTER NODES of %s: %w", addr, err)
			}
			for s := lo; s <= hi; s++ {
				if prev := m.owner[s]; prev != "" {
					return 0, fmt.Errorf("redisexp: slot %d is served by both %s and %s: the cluster is being reconfigured; try again", s, m.addrs[prev], addr)
				}
				m.owner[s] = id
				n++
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("redisexp: CLUSTER NODES has no line for the node itself")
}

func slotRange(r string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(r, "-")
	if lo, err = strconv.Atoi(a); err == nil {
		hi = lo
		if isRange {
			hi, err = strconv.Atoi(b)
		}
	}
	if err != nil || lo < 0 || hi < lo || hi >= clusterSlots {
		return 0, 0, fmt.Errorf("bad slot range %q", r)
	}
	return lo, hi, nil
}

// compare returns an error naming the first difference between m, read
// before a scan, and after, read after it.
func (m *slotMap) compare(after *slotMap) error {
	for s := range m.owner {
		if m.owner[s] != after.owner[s] {
			return fmt.Errorf("redisexp: the cluster resharded during the scan: slot %d moved from %s to %s", s, m.addrs[m.owner[s]], after.addrs[after.owner[s]])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.epochs)) {
		if e := after.epochs[id]; e != m.epochs[id] {
			return fmt.Errorf("redisexp: the cluster's configuration changed during the scan: the config epoch of %s went from %d to %d", m.addrs[id], m.epochs[id], e)
		}
	}
	return nil
}
