//! Deleting a stack: its users, keypairs and project in Keystone, its trust,
//! its software configs and deployments; and the rollback of a failed create.

use std::time::Duration;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::store::StackRow;

// ---- delete and rollback --------------------------------------------------------

/// Deletes what a stack created in Keystone: keypairs, users, the project.
/// Returns the first failure (after trying everything).
async fn delete_keystone(engine: &Engine, stack: &StackRow) -> Result<(), EngineError> {
    let domain = &engine.inner.domain;
    let store = engine.store();
    let mut first: Option<EngineError> = None;
    let mut resources = store.resources(&stack.id).await?;
    resources.reverse();
    for r in &resources {
        if let Some(access) = &r.access_key {
            if let Err(e) = domain.delete_keypair(access).await {
                first.get_or_insert(e);
            }
        }
    }
    for r in &resources {
        if r.type_name == "AWS::IAM::AccessKey" {
            continue;
        }
        if let Some(user) = &r.user_id {
            if let Err(e) = domain.delete_user(user).await {
                first.get_or_insert(e);
            }
        }
    }
    if first.is_none() {
        if let Some(p) = &stack.stack_user_project_id {
            if let Err(e) = domain.delete_project(p).await {
                first.get_or_insert(e);
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub(super) async fn rollback_keystone(engine: &Engine, stack: &StackRow) {
    let Ok(Some(stack)) = engine.store().stack(&stack.id).await else {
        return;
    };
    if let Err(e) = delete_keystone(engine, &stack).await {
        tracing::error!(stack = %stack.id, error = %e, "rollback of the stack domain users failed");
        return;
    }
    let _ = engine.store().forget_stack_users(&stack.id).await;
}

/// The background deletion of a stack.
pub(crate) async fn delete(engine: Engine, stack_id: String) {
    let store = engine.store();
    let Ok(Some(stack)) = store.stack(&stack_id).await else {
        return;
    };
    // Let a create task that is waiting see the DELETE and stop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Err(e) = delete_keystone(&engine, &stack).await {
        let reason = format!("Resource DELETE failed: {}", short_keystone(&e));
        tracing::error!(stack = %stack_id, error = %e, "stack delete failed");
        let _ = store
            .finish_stack(&stack_id, "DELETE", "FAILED", &reason)
            .await;
        let _ = store
            .add_event(
                &stack_id,
                &stack.name,
                "OS::Heat::Stack",
                Some(&stack_id),
                "DELETE",
                "FAILED",
                &reason,
            )
            .await;
        return;
    }
    for r in store.resources(&stack_id).await.unwrap_or_default() {
        match r.type_name.as_str() {
            "OS::Heat::SoftwareConfig" => {
                if let Some(id) = &r.physical_id {
                    let _ = store.delete_config(id).await;
                }
            }
            "OS::Nova::Server" => {
                if let Some(id) = &r.physical_id {
                    let _ = store.delete_deployments_of_server(id).await;
                }
            }
            _ => {}
        }
        let _ = store
            .set_resource_status(&stack_id, &r.name, "DELETE", "COMPLETE", "state changed")
            .await;
        let _ = store
            .add_event(
                &stack_id,
                &r.name,
                &r.type_name,
                r.physical_id.as_deref(),
                "DELETE",
                "COMPLETE",
                "state changed",
            )
            .await;
    }
    let _ = store
        .delete_deployments_of_stack(&stack.tenant, &stack_id)
        .await;
    if let Some(sealed) = &stack.trust_id_enc {
        engine.delete_trust(sealed).await;
    }
    let _ = store
        .add_event(
            &stack_id,
            &stack.name,
            "OS::Heat::Stack",
            Some(&stack_id),
            "DELETE",
            "COMPLETE",
            "Stack DELETE completed successfully",
        )
        .await;
    if let Err(e) = store.mark_stack_deleted(&stack_id).await {
        tracing::error!(stack = %stack_id, error = %e, "could not mark the stack deleted");
    }
    engine.forget_waiters(&stack_id);
}

pub(super) fn short_keystone(e: &EngineError) -> String {
    match e {
        EngineError::Keystone(k) if k.is_unavailable() => {
            "The identity service is unavailable".into()
        }
        EngineError::Keystone(k) => match k.rejected_status() {
            Some(s) => format!("Keystone refused the request ({s})"),
            None => "Keystone failed".into(),
        },
        other => other.to_string(),
    }
}
