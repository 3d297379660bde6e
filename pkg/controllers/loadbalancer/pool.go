package loadbalancer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrExhausted means every address of the pool is in use.
var ErrExhausted = errors.New("pool exhausted")

type ipRange struct{ first, last uint32 }

// Pool is a set of IPv4 addresses, given as ranges or CIDRs.
type Pool struct {
	ranges []ipRange
	spec   []string
	used   map[uint32]string // address → service key
}

// ParsePool reads "a.b.c.d-a.b.c.e" ranges and CIDRs (network and
// broadcast addresses of a CIDR wider than /31 are left out).
func ParsePool(specs []string) (*Pool, error) {
	p := &Pool{used: map[uint32]string{}}
	for _, s := range specs {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			r, err := parseRange(part)
			if err != nil {
				return nil, err
			}
			p.ranges = append(p.ranges, r)
			p.spec = append(p.spec, part)
		}
	}
	return p, nil
}

func ipv4(s string) (uint32, error) {
	ip := net.ParseIP(strings.TrimSpace(s)).To4()
	if ip == nil {
		return 0, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return binary.BigEndian.Uint32(ip), nil
}

func parseRange(s string) (ipRange, error) {
	if strings.Contains(s, "/") {
		_, n, err := net.ParseCIDR(s)
		if err != nil || n.IP.To4() == nil {
			return ipRange{}, fmt.Errorf("lb pool %q: not an IPv4 CIDR", s)
		}
		ones, bits := n.Mask.Size()
		first := binary.BigEndian.Uint32(n.IP.To4())
		last := first + uint32(1)<<(bits-ones) - 1
		if bits-ones > 1 {
			first, last = first+1, last-1
		}
		return ipRange{first, last}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	first, err := ipv4(a)
	if err != nil {
		return ipRange{}, fmt.Errorf("lb pool %q: %w", s, err)
	}
	last, err := ipv4(b)
	if err != nil {
		return ipRange{}, fmt.Errorf("lb pool %q: %w", s, err)
	}
	if last < first {
		return ipRange{}, fmt.Errorf("lb pool %q: range ends before it starts", s)
	}
	return ipRange{first, last}, nil
}

// String is the pool as configured.
func (p *Pool) String() string { return strings.Join(p.spec, ",") }

// Empty reports whether the pool has no address at all.
func (p *Pool) Empty() bool { return len(p.ranges) == 0 }

// Size is the number of addresses.
func (p *Pool) Size() int {
	n := 0
	for _, r := range p.ranges {
		n += int(r.last-r.first) + 1
	}
	return n
}

// InUse is the number of allocated addresses.
func (p *Pool) InUse() int { return len(p.used) }

func (p *Pool) contains(ip uint32) bool {
	for _, r := range p.ranges {
		if ip >= r.first && ip <= r.last {
			return true
		}
	}
	return false
}

func toString(ip uint32) string {
	b := make(net.IP, 4)
	binary.BigEndian.PutUint32(b, ip)
	return b.String()
}

// Contains reports whether ip is in the pool.
func (p *Pool) Contains(ip string) bool {
	v, err := ipv4(ip)
	return err == nil && p.contains(v)
}

// Holder is the service key holding ip, or "".
func (p *Pool) Holder(ip string) string {
	v, err := ipv4(ip)
	if err != nil {
		return ""
	}
	return p.used[v]
}

// Assign gives ip to owner if it is in the pool and free (or already
// owner's).
func (p *Pool) Assign(ip, owner string) bool {
	v, err := ipv4(ip)
	if err != nil || !p.contains(v) {
		return false
	}
	if h, ok := p.used[v]; ok && h != owner {
		return false
	}
	p.used[v] = owner
	return true
}

// Allocate gives owner the lowest free address.
func (p *Pool) Allocate(owner string) (string, error) {
	for _, r := range p.ranges {
		for ip := r.first; ; ip++ {
			if _, ok := p.used[ip]; !ok {
				p.used[ip] = owner
				return toString(ip), nil
			}
			if ip == r.last {
				break
			}
		}
	}
	return "", ErrExhausted
}

// Release frees ip if owner holds it.
func (p *Pool) Release(ip, owner string) {
	if v, err := ipv4(ip); err == nil && p.used[v] == owner {
		delete(p.used, v)
	}
}
