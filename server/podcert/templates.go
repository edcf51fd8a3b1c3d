package podcert

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/lanyard-dev/lanyard/server/k8sreg"
)

// templateCache holds the IdentityTemplates of the cluster, nil-safe: a nil cache (no
// Dynamic client, or the CRD not installed) holds none.
type templateCache struct {
	inf cache.SharedIndexInformer
}

func startTemplates(ctx context.Context, dyn dynamic.Interface, log *slog.Logger) (*templateCache, error) {
	if dyn == nil {
		return nil, nil
	}
	if _, err := dyn.Resource(k8sreg.GVR).List(ctx, metav1.ListOptions{Limit: 1}); apierrors.IsNotFound(err) {
		log.Warn("the IdentityTemplate resource is not installed (deploy/crds/identitytemplates.yaml); pods get the default identity only, until a restart after it is")
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("podcert: listing IdentityTemplates: %w", err)
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	t := &templateCache{inf: f.ForResource(k8sreg.GVR).Informer()}
	f.Start(ctx.Done())
	context.AfterFunc(ctx, f.Shutdown)
	return t, nil
}

func (t *templateCache) waitForSync(ctx context.Context) bool {
	return t == nil || cache.WaitForCacheSync(ctx.Done(), t.inf.HasSynced)
}

// podTemplates returns the templates that opted in to pod certificates, by name, and
// the errors of those that do not compile (shown in the template's status by k8sreg).
func (t *templateCache) podTemplates() ([]*k8sreg.PodTemplate, []string) {
	if t == nil {
		return nil, nil
	}
	var out []*k8sreg.PodTemplate
	var broken []string
	for _, o := range t.inf.GetStore().List() {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if on, _, _ := unstructured.NestedBool(u.Object, "spec", "podCertificates"); !on {
			continue
		}
		pt, err := k8sreg.CompilePodTemplate(u)
		if err != nil {
			broken = append(broken, u.GetName()+": "+err.Error())
			continue
		}
		out = append(out, pt)
	}
	slices.SortFunc(out, func(a, b *k8sreg.PodTemplate) int { return strings.Compare(a.Name(), b.Name()) })
	return out, broken
}
