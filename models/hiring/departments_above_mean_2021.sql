-- Departments that hired more employees in 2021 than the mean of all departments.
with hires as (
    select department_id, count(*) as hired
    from {{ source('hiring_raw', 'hired_employees') }}
    where substr(hired_at, 1, 4) = '2021'
    group by department_id
)

select departments.id, departments.department, hires.hired
from hires
join {{ source('hiring_raw', 'departments') }} departments on departments.id = hires.department_id
where hires.hired > (select avg(hired) from hires)
