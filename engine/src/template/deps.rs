//! The dependency graph of a template's resources and the order in which
//! they are created (Heat's `dependencies.py`, with Heat's edges: `depends_on`
//! plus every `get_resource`, `get_attr`, `Ref` and `Fn::GetAtt` of a
//! resource in properties and metadata; outputs add none).

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::error::{join, ErrorKind, TemplateError};
use super::functions::{references, RefKind};
use super::registry::resource_type;
use super::Template;

/// The resources of a template with the resources each requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    /// Resource name -> the resources it requires (direct, deduplicated, in
    /// the order they are referred to).
    requires: IndexMap<String, Vec<String>>,
    /// A creation order.
    order: Vec<String>,
}

impl DependencyGraph {
    /// The order in which to create the resources: each after every resource
    /// it requires, independent ones in template order.
    pub fn creation_order(&self) -> &[String] {
        &self.order
    }

    /// The order in which to delete the resources: the reverse of
    /// [`Self::creation_order`].
    pub fn deletion_order(&self) -> Vec<String> {
        self.order.iter().rev().cloned().collect()
    }

    /// The resources `name` requires directly.
    pub fn requires(&self, name: &str) -> &[String] {
        self.requires.get(name).map_or(&[], Vec::as_slice)
    }

    /// The resources that require `name` directly, in template order (Heat's
    /// `required_by` of a resource).
    pub fn required_by(&self, name: &str) -> Vec<String> {
        self.requires
            .iter()
            .filter(|(_, reqs)| reqs.iter().any(|r| r == name))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

impl Template {
    /// The dependency graph. Errors: a reference to a resource the template
    /// lacks — Heat's `The specified reference "x" (in wait.Properties.handle)
    /// is incorrect.` (for `depends_on`: `(in wait)`); a cycle — `Circular
    /// Dependency Found: {...}` with the resources left in the cycle (and
    /// those waiting on it), each with the ones it still requires.
    pub fn dependency_graph(&self) -> Result<DependencyGraph, TemplateError> {
        let n = self.names();
        let mut requires: IndexMap<String, Vec<String>> = IndexMap::new();
        for (name, def) in &self.resources {
            let mut reqs: Vec<String> = Vec::new();
            let sections = [
                (n.properties, "Properties", &def.properties),
                (n.metadata, "Metadata", &def.metadata),
            ];
            for (section, heat_section, value) in sections {
                for r in references(self.version, value) {
                    if !self.resources.contains_key(&r.resource) {
                        if r.kind == RefKind::Ref {
                            // a parameter (or nothing: validation says so)
                            continue;
                        }
                        let key = join(&join(name, heat_section), &r.path);
                        let here = join(&join(&join(n.resources, name), section), &r.path);
                        return Err(TemplateError::new(
                            ErrorKind::InvalidTemplateReference,
                            here.trim_end_matches('.'),
                            format!(
                                "The specified reference \"{}\" (in {}) is incorrect.",
                                r.resource,
                                key.trim_end_matches('.')
                            ),
                        ));
                    }
                    if !reqs.contains(&r.resource) {
                        reqs.push(r.resource);
                    }
                }
            }
            for dep in &def.depends_on {
                if !self.resources.contains_key(dep) {
                    return Err(TemplateError::new(
                        ErrorKind::InvalidTemplateReference,
                        join(&join(n.resources, name), n.depends_on),
                        format!("The specified reference \"{dep}\" (in {name}) is incorrect."),
                    ));
                }
                if !reqs.contains(dep) {
                    reqs.push(dep.clone());
                }
            }
            requires.insert(name.clone(), reqs);
        }
        let order = toposort(&requires).map_err(|left| self.cycle_error(&requires, &left))?;
        Ok(DependencyGraph { requires, order })
    }

    /// The order in which to create the resources (see
    /// [`Self::dependency_graph`] for the errors).
    pub fn creation_order(&self) -> Result<Vec<String>, TemplateError> {
        Ok(self.dependency_graph()?.order)
    }

    /// The order in which to delete the resources: the reverse of the
    /// creation order.
    pub fn deletion_order(&self) -> Result<Vec<String>, TemplateError> {
        Ok(self.dependency_graph()?.deletion_order())
    }

    fn cycle_error(
        &self,
        requires: &IndexMap<String, Vec<String>>,
        left: &[usize],
    ) -> TemplateError {
        let label = |name: &str| {
            let class = self
                .resources
                .get(name)
                .and_then(|d| resource_type(&d.type_name))
                .map_or("Resource", |t| t.class_name);
            format!("{class} \"{name}\"")
        };
        let remaining: Vec<&str> = left
            .iter()
            .map(|i| requires.get_index(*i).map_or("", |(k, _)| k.as_str()))
            .collect();
        let parts: Vec<String> = remaining
            .iter()
            .map(|name| {
                let reqs: Vec<String> = requires[*name]
                    .iter()
                    .filter(|r| remaining.contains(&r.as_str()))
                    .map(|r| label(r))
                    .collect();
                format!("{}: {{{}}}", label(name), reqs.join(", "))
            })
            .collect();
        TemplateError::new(
            ErrorKind::CircularDependency,
            self.names().resources,
            format!("Circular Dependency Found: {{{}}}", parts.join(", ")),
        )
    }
}

/// Kahn's algorithm taking the ready resource that comes first in the
/// template each time. On a cycle, the indices of the resources left.
fn toposort(requires: &IndexMap<String, Vec<String>>) -> Result<Vec<String>, Vec<usize>> {
    let count = requires.len();
    let mut waiting: Vec<usize> = vec![0; count];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, (_, reqs)) in requires.iter().enumerate() {
        for r in reqs {
            if let Some(j) = requires.get_index_of(r) {
                waiting[i] += 1;
                dependents[j].push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..count).filter(|i| waiting[*i] == 0).collect();
    let mut order = Vec::with_capacity(count);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert(d);
            }
        }
    }
    if order.len() < count {
        let done: BTreeSet<usize> = order.into_iter().collect();
        return Err((0..count).filter(|i| !done.contains(i)).collect());
    }
    Ok(order
        .into_iter()
        .filter_map(|i| requires.get_index(i).map(|(k, _)| k.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> IndexMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, r)| (n.to_string(), r.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn stable_topological_order() {
        let g = graph(&[
            ("a", &["d"]),
            ("b", &[]),
            ("c", &["a", "b"]),
            ("d", &[]),
            ("e", &[]),
        ]);
        assert_eq!(toposort(&g).unwrap(), ["b", "d", "a", "c", "e"]);
        let g = graph(&[("x", &[]), ("y", &[]), ("z", &[])]);
        assert_eq!(toposort(&g).unwrap(), ["x", "y", "z"]);
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[]), ("d", &["a"])]);
        assert_eq!(toposort(&g).unwrap_err(), [0, 1, 3]);
        let g = graph(&[("self", &["self"])]);
        assert_eq!(toposort(&g).unwrap_err(), [0]);
    }
}
