//! The topology as a picture: Graphviz DOT (`lariat graph | dot -Tpng -o topology.png`) or a
//! Mermaid flowchart for READMEs and pull requests.
//!
//! Output is deterministic — resources ordered by name, every resource drawn once — so two
//! renderings can be diffed and reviewed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::naming::ParsedName;
use crate::topology::{Derived, Endpoint, External, Queue, Subscription, Topic, Topology};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Graphviz DOT.
    #[default]
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Renders `topology` in `format`.
pub fn render(topology: &Topology, format: Format) -> String {
    match format {
        Format::Dot => render_dot(topology),
        Format::Mermaid => render_mermaid(topology),
    }
}

/// One drawn resource.
struct Node<'a> {
    id: String,
    name: &'a str,
    naming: &'a ParsedName,
    topic: bool,
    fifo: bool,
    dead_letter: bool,
    external: Option<&'a External>,
}

/// Resources grouped by publisher (`custom` for custom names), groups and members by name;
/// external resources, another service's, under the empty group name, drawn outside every
/// cluster.
fn groups(topology: &Topology) -> BTreeMap<String, Vec<Node<'_>>> {
    let mut groups: BTreeMap<String, Vec<Node<'_>>> = BTreeMap::new();
    let dead_letter = topology.dead_letter_queues();
    let topics = topology.topics.values().map(|t: &Topic| Node {
        id: format!("topic:{}", t.name),
        name: &t.name,
        naming: &t.naming,
        topic: true,
        fifo: t.fifo(),
        dead_letter: false,
        external: t.external.as_ref(),
    });
    let queues = topology.queues.values().map(|q: &Queue| Node {
        id: format!("queue:{}", q.name),
        name: &q.name,
        naming: &q.naming,
        topic: false,
        fifo: q.fifo(),
        dead_letter: dead_letter.contains(q.name.as_str()),
        external: q.external.as_ref(),
    });
    for node in topics.chain(queues) {
        let group = match node.naming {
            _ if node.external.is_some() => String::new(),
            ParsedName::Standard(p) => format!("publisher: {}", p.publisher),
            ParsedName::Custom { .. } => "custom".to_owned(),
        };
        groups.entry(group).or_default().push(node);
    }
    groups
}

fn endpoint_id(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Queue(name) => format!("queue:{name}"),
        Endpoint::Topic(name) => format!("topic:{name}"),
    }
}

/// `raw`, `filter`, `raw, filter` or nothing.
fn edge_label(sub: &Subscription) -> String {
    let mut marks = Vec::new();
    if sub.attributes.raw_message_delivery == Some(true) {
        marks.push("raw");
    }
    if sub.attributes.filter_policy.is_some() {
        marks.push("filter");
    }
    if sub.attributes.dead_letter_queue.is_some() {
        marks.push("dlq");
    }
    marks.join(", ")
}

/// `derived via T`, plus the marks of [`edge_label`].
fn derived_label(d: &Derived) -> String {
    let marks = edge_label(&d.subscription);
    let via = d.via.join(" → ");
    match marks.is_empty() {
        true => format!("derived via {via}"),
        false => format!("derived via {via}, {marks}"),
    }
}

fn node_label(node: &Node<'_>) -> String {
    // an external resource of another account is keyed by its ARN: show its name
    let mut label = node.name.rsplit(':').next().unwrap_or(node.name).to_owned();
    let mut marks = Vec::new();
    if let Some(external) = node.external {
        marks.push(match &external.owner {
            Some(owner) => format!("external: {owner}"),
            None => "external".to_owned(),
        });
        if let Some(account) = &external.account {
            marks.push(format!("account {account}"));
        }
        if let Some(region) = &external.region {
            marks.push(region.clone());
        }
    }
    if node.fifo {
        marks.push("FIFO".to_owned());
    }
    if node.dead_letter {
        marks.push("dead-letter".to_owned());
    }
    if !marks.is_empty() {
        label.push_str(&format!("\\n[{}]", marks.join(", ")));
    }
    label
}

/// Graphviz DOT: topics as components, queues as rounded boxes, one cluster per publisher.
pub fn render_dot(topology: &Topology) -> String {
    let mut out = String::from("digraph lariat {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for (i, (group, nodes)) in groups(topology).iter().enumerate() {
        if group.is_empty() {
            for node in nodes {
                let shape = if node.topic { "component" } else { "box" };
                let peripheries = if node.fifo { ", peripheries=2" } else { "" };
                let _ = writeln!(
                    out,
                    "  \"{}\" [label=\"{}\", shape={shape}, style=dashed, color=\"#666666\"{peripheries}];",
                    node.id,
                    node_label(node)
                );
            }
            continue;
        }
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label=\"{group}\";\n    style=dashed;"
        );
        for node in nodes {
            let custom = matches!(node.naming, ParsedName::Custom { .. });
            let fill = match (custom, node.topic, node.dead_letter) {
                (true, _, _) => "#e0e0e0",
                (false, true, _) => "#dae8fc",
                (false, false, true) => "#f8cecc",
                (false, false, false) => "#d5e8d4",
            };
            let shape = if node.topic {
                "shape=component, style=filled"
            } else {
                "shape=box, style=\"rounded,filled\""
            };
            let peripheries = if node.fifo { ", peripheries=2" } else { "" };
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\", {shape}, fillcolor=\"{fill}\"{peripheries}];",
                node.id,
                node_label(node)
            );
        }
        out.push_str("  }\n");
    }
    for sub in topology.subscriptions.values() {
        let label = edge_label(sub);
        let mut attrs = Vec::new();
        if !label.is_empty() {
            attrs.push(format!("label=\"{label}\""));
        }
        if matches!(sub.key.endpoint, Endpoint::Topic(_)) {
            attrs.push("style=bold".to_owned());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(
            out,
            "  \"topic:{}\" -> \"{}\"{attrs};",
            sub.key.topic,
            endpoint_id(&sub.key.endpoint)
        );
        if let Some(dlq) = &sub.attributes.dead_letter_queue {
            let _ = writeln!(
                out,
                "  \"topic:{}\" -> \"queue:{dlq}\" [style=dotted, label=\"undeliverable\"];",
                sub.key.topic
            );
        }
    }
    for d in topology.derived.values() {
        let key = &d.subscription.key;
        let _ = writeln!(
            out,
            "  \"topic:{}\" -> \"{}\" [style=dashed, color=\"#6c8ebf\", label=\"{}\"];",
            key.topic,
            endpoint_id(&key.endpoint),
            derived_label(d)
        );
    }
    for queue in topology.queues.values() {
        if let Some(d) = &queue.attributes.dead_letter {
            let _ = writeln!(
                out,
                "  \"queue:{}\" -> \"queue:{}\" [style=dashed, color=\"#b85450\", label=\"dead-letter after {}\"];",
                queue.name, d.queue, d.max_receive_count
            );
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart: topics as subroutines, queues as stadiums, one subgraph per publisher.
pub fn render_mermaid(topology: &Topology) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut fifo = Vec::new();
    let mut dead = Vec::new();
    let mut external = Vec::new();
    for (i, (group, nodes)) in groups(topology).iter().enumerate() {
        let outside = group.is_empty();
        if !outside {
            let _ = writeln!(out, "  subgraph g{i}[\"{group}\"]");
        }
        for node in nodes {
            let id = format!("{}{}", if node.topic { "t" } else { "q" }, ids.len());
            let label = node_label(node).replace("\\n", "<br/>");
            let shape = if node.topic {
                format!("[[\"{label}\"]]")
            } else {
                format!("([\"{label}\"])")
            };
            let _ = writeln!(out, "    {id}{shape}");
            if node.fifo {
                fifo.push(id.clone());
            }
            if node.dead_letter {
                dead.push(id.clone());
            }
            if outside {
                external.push(id.clone());
            }
            ids.insert(node.id.clone(), id);
        }
        if !outside {
            out.push_str("  end\n");
        }
    }
    let id = |key: &str| ids.get(key).cloned().unwrap_or_else(|| key.to_owned());
    for sub in topology.subscriptions.values() {
        let label = edge_label(sub);
        let arrow = if matches!(sub.key.endpoint, Endpoint::Topic(_)) {
            "==>"
        } else {
            "-->"
        };
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("|{label}|")
        };
        let _ = writeln!(
            out,
            "  {} {arrow}{label} {}",
            id(&format!("topic:{}", sub.key.topic)),
            id(&endpoint_id(&sub.key.endpoint))
        );
    }
    for d in topology.derived.values() {
        let key = &d.subscription.key;
        let _ = writeln!(
            out,
            "  {} -.->|{}| {}",
            id(&format!("topic:{}", key.topic)),
            derived_label(d),
            id(&endpoint_id(&key.endpoint))
        );
    }
    for queue in topology.queues.values() {
        if let Some(d) = &queue.attributes.dead_letter {
            let _ = writeln!(
                out,
                "  {} -.->|dead-letter after {}| {}",
                id(&format!("queue:{}", queue.name)),
                d.max_receive_count,
                id(&format!("queue:{}", d.queue))
            );
        }
    }
    if !fifo.is_empty() {
        let _ = writeln!(
            out,
            "  classDef fifo stroke-width:3px\n  class {} fifo",
            fifo.join(",")
        );
    }
    if !dead.is_empty() {
        let _ = writeln!(
            out,
            "  classDef dlq fill:#f8cecc\n  class {} dlq",
            dead.join(",")
        );
    }
    if !external.is_empty() {
        let _ = writeln!(
            out,
            "  classDef external stroke-dasharray:5 5,fill:#ffffff\n  class {} external",
            external.join(",")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{self, ResourceKind};
    use crate::topology::{
        DeadLetter, QueueAttributes, SubscriptionAttributes, SubscriptionKey, TopicAttributes,
    };

    fn topology() -> Topology {
        let mut t = Topology::default();
        for name in ["test-event-fanout-auth-user_created.fifo", "legacy"] {
            t.topics.insert(
                name.into(),
                Topic {
                    name: name.into(),
                    naming: naming::parse(ResourceKind::Topic, name),
                    attributes: TopicAttributes::default(),
                    tags: Default::default(),
                    external: None,
                },
            );
        }
        let queue = |name: &str, dead_letter: Option<DeadLetter>| Queue {
            name: name.into(),
            naming: naming::parse(ResourceKind::Queue, name),
            attributes: QueueAttributes {
                dead_letter,
                ..Default::default()
            },
            tags: Default::default(),
            external: None,
        };
        let dlq = "test-event-queue-auth-user_created-dead.fifo";
        let main = "test-event-queue-auth-user_created-mailer.fifo";
        t.queues.insert(dlq.into(), queue(dlq, None));
        t.queues.insert(
            main.into(),
            queue(
                main,
                Some(DeadLetter {
                    queue: dlq.into(),
                    max_receive_count: 5,
                }),
            ),
        );
        let key = SubscriptionKey {
            topic: "test-event-fanout-auth-user_created.fifo".into(),
            endpoint: Endpoint::Queue(main.into()),
        };
        t.subscriptions.insert(
            key.clone(),
            Subscription {
                key,
                attributes: SubscriptionAttributes {
                    raw_message_delivery: Some(true),
                    filter_policy: Some(serde_json::json!({"a": ["b"]})),
                    ..Default::default()
                },
            },
        );
        t
    }

    #[test]
    fn dot_draws_every_resource_once_with_marks() {
        let dot = render_dot(&topology());
        assert_eq!(dot.matches("\"topic:legacy\" [").count(), 1);
        assert!(dot.contains("label=\"custom\""));
        assert!(dot.contains("label=\"publisher: auth\""));
        assert!(dot.contains("[FIFO, dead-letter]"));
        assert!(dot.contains("[label=\"raw, filter\"]"));
        assert!(dot.contains("label=\"dead-letter after 5\""));
        assert!(
            dot.contains("fillcolor=\"#e0e0e0\""),
            "custom resources are grey"
        );
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(render_dot(&topology()), render_dot(&topology()));
        assert_eq!(render_mermaid(&topology()), render_mermaid(&topology()));
    }

    #[test]
    fn mermaid_has_subgraphs_edges_and_classes() {
        let m = render_mermaid(&topology());
        assert!(m.starts_with("flowchart LR\n"));
        assert!(m.contains("subgraph g0[\"custom\"]"));
        assert!(m.contains("-->|raw, filter|"));
        assert!(m.contains("-.->|dead-letter after 5|"));
        assert!(m.contains("class "), "{m}");
    }

    #[test]
    fn empty_topology_is_a_valid_graph() {
        assert_eq!(render_dot(&Topology::default()), "digraph lariat {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n}\n");
    }
}
