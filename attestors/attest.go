package attestors

import (
	"context"
	"sync"
)

// AttestAll runs every attestor on the process pid and returns their selectors together.
// Attestors may wait on others (a kubelet), so several run side by side. Any error fails
// the whole: a workload half-attested could match entries meant for another.
func AttestAll(ctx context.Context, list []WorkloadAttestor, pid int32) ([]Selector, error) {
	if len(list) == 1 {
		return list[0].Attest(ctx, pid)
	}
	results := make([][]Selector, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, a := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = a.Attest(ctx, pid)
		}()
	}
	wg.Wait()
	var sels []Selector
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		sels = append(sels, results[i]...)
	}
	return sels, nil
}
