//! Violations are `tracing` events with structured fields. Alone in its own test binary:
//! tracing caches per-callsite interest process-wide, so subscribers set by tests running in
//! parallel threads could race with this one.

use std::sync::{Arc, Mutex};

use dmacheck::*;

fn unmap_with_wrong_size(checker: &Checker, dev: &Device) {
    let buf = kmalloc(checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(dev, dma), 0);
    dma_unmap_single(dev, dma, 128, Direction::ToDevice);
    kfree(checker, buf);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0 += &format!("{}={:?};", field.name(), value);
            }
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                self.0 += &format!("{}={};", field.name(), value);
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0 += &format!("{}={};", field.name(), value);
            }
        }
        let mut f = Fields(format!(
            "target={};level={};",
            event.metadata().target(),
            event.metadata().level()
        ));
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
}

#[test]
fn each_violation_is_a_tracing_event_with_structured_fields() {
    use tracing_subscriber::prelude::*;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::with_default(subscriber, || {
        let checker = Checker::builder().env(false).print(false).build();
        let dev = checker.device("eth0").driver("e1000").build();
        unmap_with_wrong_size(&checker, &dev);
    });
    let events = captured.0.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    for field in [
        "target=dmacheck;",
        "level=WARN;",
        "rule=unmap-size-mismatch;",
        "call=dma_unmap_single;",
        "device=eth0;",
        "driver=e1000;",
        "size=128;",
    ] {
        assert!(e.contains(field), "{field} missing in {e}");
    }
    assert!(e.contains("mapped_at=tests/tracing_events.rs:"), "{e}");
}
