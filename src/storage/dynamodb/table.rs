//! Checking, and with `create_table` creating, the table at startup.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};

use super::{DynamoStorage, SERVICE};
use crate::aws;

impl DynamoStorage {
    /// Checks that the table exists with our key schema; creates it
    /// (on-demand billing) when it is missing and `create` is set.
    pub(super) async fn ensure_table(&self, create: bool) -> Result<(), String> {
        let describe = self.client.describe_table().table_name(&self.table);
        let found = match self
            .caller
            .call("DescribeTable", aws::is_transient, || {
                describe.clone().send()
            })
            .await
        {
            Ok(out) => out.table,
            Err(e) if aws::error_code(&e.error) == Some("ResourceNotFoundException") => None,
            Err(e) if aws::error_code(&e.error) == Some("AccessDeniedException") => {
                tracing::warn!(table = %self.table, "cannot describe the dynamodb table (access denied); assuming it exists");
                return Ok(());
            }
            Err(e) => return Err(aws::describe_call(SERVICE, "DescribeTable", &e)),
        };
        let Some(table) = found else {
            if !create {
                return Err(format!(
                    "dynamodb table {:?} does not exist (create it, e.g. with localstack/bootstrap.sh, or set create_table = \"true\")",
                    self.table
                ));
            }
            return self.create_table().await;
        };
        let schema: Vec<(String, String)> = table
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect();
        let expected = vec![
            ("pk".to_string(), "HASH".to_string()),
            ("sk".to_string(), "RANGE".to_string()),
        ];
        if schema != expected {
            return Err(format!(
                "dynamodb table {:?} has key schema {schema:?}; strongroom needs pk (S, HASH) + sk (S, RANGE)",
                self.table
            ));
        }
        Ok(())
    }

    async fn create_table(&self) -> Result<(), String> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
        let request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .map_err(build)?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            );
        match self
            .caller
            .call("CreateTable", aws::is_transient, || request.clone().send())
            .await
        {
            Ok(_) => tracing::info!(table = %self.table, "created dynamodb table"),
            // Another node created it first.
            Err(e) if aws::error_code(&e.error) == Some("ResourceInUseException") => {}
            Err(e) => return Err(aws::describe_call(SERVICE, "CreateTable", &e)),
        }
        let describe = self.client.describe_table().table_name(&self.table);
        for _ in 0..120 {
            let out = self
                .caller
                .call("DescribeTable", aws::is_transient, || {
                    describe.clone().send()
                })
                .await
                .map_err(|e| aws::describe_call(SERVICE, "DescribeTable", &e))?;
            if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!(
            "dynamodb table {:?} did not become ACTIVE within 60 s",
            self.table
        ))
    }
}
