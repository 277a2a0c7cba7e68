-- Employees hired in 2021 per department and job, one column per quarter.
with hires as (
    select
        department_id,
        job_id,
        cast(substr(hired_at, 6, 2) as {{ dbt.type_int() }}) as hire_month
    from {{ source('hiring_raw', 'hired_employees') }}
    where substr(hired_at, 1, 4) = '2021'
)

select
    departments.department,
    jobs.job,
    sum(case when hire_month <= 3 then 1 else 0 end) as q1,
    sum(case when hire_month between 4 and 6 then 1 else 0 end) as q2,
    sum(case when hire_month between 7 and 9 then 1 else 0 end) as q3,
    sum(case when hire_month >= 10 then 1 else 0 end) as q4
from hires
join {{ source('hiring_raw', 'departments') }} departments on departments.id = hires.department_id
join {{ source('hiring_raw', 'jobs') }} jobs on jobs.id = hires.job_id
group by departments.department, jobs.job
