package nodeipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// ErrFull means every subnet of the cluster CIDR is in use.
var ErrFull = errors.New("cluster CIDR exhausted")

// Allocator hands out fixed-size subnets of a cluster CIDR.
type Allocator struct {
	base     uint32
	maskSize int
	shift    uint
	size     int
	used     []bool
	next     int
}

// NewAllocator splits cidr into /maskSize subnets.
func NewAllocator(cidr *net.IPNet, maskSize int) (*Allocator, error) {
	ip4 := cidr.IP.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("cluster CIDR %s: only IPv4 is supported", cidr)
	}
	ones, _ := cidr.Mask.Size()
	if maskSize < ones || maskSize > 30 {
		return nil, fmt.Errorf("node CIDR mask size %d must be between the cluster prefix /%d and /30", maskSize, ones)
	}
	if maskSize-ones > 20 {
		return nil, fmt.Errorf("node CIDR mask size %d gives too many subnets of %s", maskSize, cidr)
	}
	return &Allocator{
		base:     binary.BigEndian.Uint32(ip4.Mask(cidr.Mask)),
		maskSize: maskSize,
		shift:    uint(32 - maskSize),
		size:     1 << (maskSize - ones),
		used:     make([]bool, 1<<(maskSize-ones)),
	}, nil
}

func (a *Allocator) subnet(i int) *net.IPNet {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, a.base+uint32(i)<<a.shift)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(a.maskSize, 32)}
}

// index of a subnet that is exactly one of ours, or -1.
func (a *Allocator) index(cidr string) int {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return -1
	}
	if ones, _ := n.Mask.Size(); ones != a.maskSize {
		return -1
	}
	off := binary.BigEndian.Uint32(n.IP.To4()) - a.base
	i := int(off >> a.shift)
	if binary.BigEndian.Uint32(n.IP.To4()) < a.base || i >= a.size {
		return -1
	}
	return i
}

// Occupy marks cidr used; it reports false when cidr is not one of our
// subnets (a node may carry any CIDR; then nothing here is blocked by it).
func (a *Allocator) Occupy(cidr string) bool {
	i := a.index(cidr)
	if i < 0 {
		return false
	}
	a.used[i] = true
	return true
}

// Used reports whether cidr is allocated.
func (a *Allocator) Used(cidr string) bool {
	i := a.index(cidr)
	return i >= 0 && a.used[i]
}

// Release frees cidr.
func (a *Allocator) Release(cidr string) {
	if i := a.index(cidr); i >= 0 {
		a.used[i] = false
	}
}

// Allocate returns the next free subnet.
func (a *Allocator) Allocate() (string, error) {
	for k := 0; k < a.size; k++ {
		i := (a.next + k) % a.size
		if !a.used[i] {
			a.used[i] = true
			a.next = (i + 1) % a.size
			return a.subnet(i).String(), nil
		}
	}
	return "", ErrFull
}
