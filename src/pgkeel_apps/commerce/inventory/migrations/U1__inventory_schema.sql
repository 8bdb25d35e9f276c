DROP TABLE inventory_analytics, inventory_alerts, inventory_movements, inventory_reservations, inventory, inventory_suppliers, inventory_categories;
