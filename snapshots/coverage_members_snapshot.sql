{% snapshot coverage_members_snapshot %}
{{
    config(
      target_schema=target.schema ~ '_snapshots',
      unique_key='member_id',
      strategy='check',
      check_cols=['eligibility', 'override_eligibility'],
    )
}}
-- Keeps the history of each member's eligibility, including manual overrides.
select member_id, eligibility, override_eligibility, is_overridden from {{ ref('coverage_members') }}
{% endsnapshot %}
